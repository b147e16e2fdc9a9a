"""Where our CPU goes: py-spy (from PyPI) samples gunicorn's worker while it is on a CPU (waits for
PostgreSQL or Redis are idle and not sampled; BENCH_PROFILE_GIL=1 samples only while it holds the
GIL) while the bench client repeats one operation; prints the top functions by own and total time.

    .venv/bin/python -m bench.profile code_flow_rs256 userinfo    # IDP_BENCH_* as for make bench
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import processes
from bench.run import ROOT, ours_settings, ours_target, run_operation, start_ours
from bench.totp_pool import TotpPool

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


LAYERS = [  # where a sample's innermost frame is → what it is spent on
    ("database (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg")),
    ("redis client", ("redis/",)),
    ("signing (joserfc, cryptography)", ("joserfc/", "cryptography/", "jwkest/", "Cryptodome/")),
    ("gunicorn worker, threads, sockets",
     ("gunicorn/", "selectors.py", "concurrent/", "threading.py", "socket.py")),
    ("flask, werkzeug, flask-wtf", ("flask/", "werkzeug/", "flask_wtf/", "wtforms/", "itsdangerous/")),
    ("templates, translations", ("jinja2/", "babel/", "flask_babel/", "markupsafe/")),
    ("pyop, oic", ("pyop/", "oic/", "future/")),
    ("json", ("json/",)),
    ("our code (idp/)", ("idp/",)),
]


def layer(frame: str) -> str:
    for name, markers in LAYERS:
        if any(marker in frame for marker in markers):
            return name
    return "other (stdlib, …)"


def summarise(raw: Path, top: int = 25) -> str:
    own, total, samples = collections.Counter(), collections.Counter(), 0
    layers = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame_name(f) for f in stack.split(";") if "(" in f]
        n = int(count)
        samples += n
        if frames:
            own[frames[-1]] += n
            layers[layer(frames[-1])] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples (with the GIL)", "by layer (innermost frame):"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in layers.most_common()]
    lines.append("own time:")
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
        target = ours_target(server.base_url, prepared, TotpPool.from_prepared(prepared["totp"]))
        target.discover()
        target.code_flow("RS256")
        for name in operations:
            for _ in range(20):
                run_operation(target, name)
            raw = work / f"{name}.txt"
            spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                                    "record", "--pid", str(server.measured_pid), "--rate", "1000",
                                    "--format", "raw", "--output", str(raw),
                                    *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") == "1" else [])],
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
        if os.environ.get("BENCH_PROFILE_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"raw profiles kept in {work}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["code_flow_rs256", "userinfo"])
