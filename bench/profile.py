"""Where our CPU goes: py-spy (from PyPI: pip install py-spy) samples gunicorn's worker while the
bench client repeats one operation; prints the top functions by own time and by total time.

    .venv/bin/python -m bench.profile code_flow_rs256 userinfo    # IDP_BENCH_* as for make bench
"""
from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import processes
from bench.driver import Target
from bench.run import ROOT, ours_settings, run_operation, start_ours

COUNTS = {"code_flow_rs256": 300, "code_flow_es256": 300, "refresh": 600, "userinfo": 1500,
          "discovery": 3000, "jwks": 3000, "cold_flow": 40}


def frame_name(frame: str) -> str:
    """'function (path/to/file.py:123)' → 'file.py:function' with the path from site-packages or idp/."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/idp/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            path = ("idp/" + path) if marker == "/idp/" else path
            break
    return f"{path}:{name}"


def summarise(raw: Path, top: int = 25) -> str:
    own, total, samples = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame_name(f) for f in stack.split(";") if "(" in f]
        n = int(count)
        samples += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples", "own time:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("total time (our code and the libraries it calls):")
    interesting = [(k, v) for k, v in total.most_common() if "gunicorn" not in k and "threading" not in k
                   and "concurrent/futures" not in k and "socketserver" not in k]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in interesting[:top]]
    return "\n".join(lines)


def main(operations: list[str]) -> None:
    from bench.setup_ours import prepare

    work = Path(tempfile.mkdtemp(prefix="idp-profile-"))
    server = None
    try:
        settings = ours_settings(work, processes.free_port())
        prepared = prepare(settings)
        server = start_ours(work, settings, ROOT)
        target = Target("ours", server.base_url, prepared["username"], prepared["password"], prepared["clients"])
        target.discover()
        target.code_flow("RS256")
        for name in operations:
            for _ in range(20):
                run_operation(target, name)
            raw = work / f"{name}.txt"
            spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                                    "record", "--pid", str(server.measured_pid), "--rate", "1000",
                                    "--format", "raw", "--output", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.5)
            for _ in range(COUNTS[name]):
                run_operation(target, name)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            print(f"\n=== {name}: {COUNTS[name]} operations ===")
            print(summarise(raw))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["code_flow_rs256", "userinfo"])
