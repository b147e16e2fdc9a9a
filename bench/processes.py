"""The measured servers as processes: start, wait until they answer, read their CPU time and memory
from /proc (Linux), stop. Only 127.0.0.1, only ports chosen free here."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ticks(stat_path: Path) -> tuple[int, int]:
    """(utime + stime, cutime + cstime) in clock ticks, from a /proc …/stat file."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return utime + stime, cutime + cstime


def cpu_seconds(pid: int) -> float:
    """User + system time of the process and of its waited-for children (xmlsec1). Live threads are
    read from schedstat, in nanoseconds, so that short batches are measured exactly; threads that
    have ended (argon2's) count through the process's clock ticks, which include them."""
    total, children_ticks = _ticks(Path(f"/proc/{pid}/stat"))
    live_ns = live_ticks = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            ns = int((task / "schedstat").read_text().split()[0])
            ticks = _ticks(task / "stat")[0]
            live_ns, live_ticks = live_ns + ns, live_ticks + ticks
    except (OSError, ValueError):  # no schedstat, or a thread ended while being read
        return (total + children_ticks) / TICKS
    return live_ns / 1e9 + (max(0, total - live_ticks) + children_ticks) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(parts[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Server:
    """One running server; `measured_pid` is the process that does the work (gunicorn's worker)."""
    name: str
    base_url: str
    process: subprocess.Popen
    log_path: Path
    measured_pid: int = 0
    extra: dict = field(default_factory=dict)
    measured_pids: list[int] = field(default_factory=list)  # every worker, when there are several

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.measured_pids or [self.measured_pid])

    def rss(self) -> float:
        return sum(rss_mib(pid) for pid in self.measured_pids or [self.measured_pid])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, command: list[str], env: dict, cwd: Path, port: int, log_dir: Path,
          ready_path: str, worker: bool = False, timeout: float = 60, workers: int = 1) -> Server:
    """Start `command` and wait until GET ready_path answers 200; with `worker`, measure its
    `workers` children (gunicorn's workers) instead of the process itself."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start ({process.returncode}); see {log_path}:\n"
                               + log_path.read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(base_url + ready_path, timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} did not answer within {timeout:.0f} s; see {log_path}")
        time.sleep(0.2)
    pid, pids = process.pid, []
    if worker:
        deadline = time.monotonic() + timeout
        while len(pids := children(process.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        if len(pids) != workers:
            process.kill()
            raise RuntimeError(f"{name}: expected {workers} gunicorn worker(s), found {len(pids)}")
        pid = pids[0]
    return Server(name, base_url, process, log_path, pid, measured_pids=pids)
