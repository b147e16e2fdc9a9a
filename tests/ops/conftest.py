"""The production command under test: gunicorn with config/gunicorn.conf.py and two workers, as a
subprocess on a free port, against the test database and a redis-server started for the test."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from idp.resources import CHECKOUT_DIR as PROJECT_ROOT
from tests.live import free_port

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
IDP = str(Path(sys.executable).with_name("idp"))


class RedisServer:
    """A redis-server of our own (no persistence), so it can be frozen with SIGSTOP."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def freeze(self):
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        self.thaw()
        self.process.terminate()
        self.process.wait(10)


class Server:
    """One running production command; its stdout (access log) and stderr (app log) kept in files."""

    def __init__(self, argv: list[str], env: dict, directory: Path, port: int):
        self.port, self.base_url = port, f"http://127.0.0.1:{port}"
        self.out, self.err = directory / "stdout.log", directory / "stderr.log"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err)

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.err.read_text()[-2000:]}")
            try:
                if requests.get(self.url("/livez"), timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or the workers still loading
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not up: {self.err.read_text()[-2000:]}")

    def lines(self) -> list[dict]:
        """Every JSON line written so far, access log and app log."""
        found = []
        for path in (self.out, self.err):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    found.append(json.loads(line))
        return found

    def worker_pids(self) -> set[int]:
        """The workers that booted (gunicorn logs each one's pid)."""
        pids = set()
        for line in self.lines():
            match = re.fullmatch(r"Booting worker with pid: (\d+)", line.get("message", ""))
            if match:
                pids.add(int(match.group(1)))
        return pids

    def text(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def metric(self, name: str, **labels) -> float:
        """The value of one series in a scrape (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        body = requests.get(self.url("/metrics"), timeout=10).text
        total = 0.0
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def production(app, services, signing_keys, redis_server, tmp_path):
    """Starts the production command; `production(**env)` → a Server that is up."""
    started = []

    def start(command="gunicorn", workers=2, **env_overrides):
        port = free_port()
        settings = services.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))}
        env.update({
            "IDP_ISSUER": f"http://127.0.0.1:{port}", "IDP_DATABASE_URL": settings.database_url,
            "IDP_REDIS_URL": redis_server.url, "IDP_INSTANCE_PATH": settings.instance_path,
            "IDP_KEYS_PATH": settings.keys_path, "IDP_SECRET_KEY": settings.secret_key,
            "IDP_DATA_KEY": settings.data_key, "IDP_SMTP_URL": settings.smtp_url,
            "IDP_THREADS": "8", "IDP_DRAIN_SECONDS": "1", "IDP_MAIL_FIRST_RETRY_SECONDS": "1",
            "IDP_INSTANCE_NAME": "test-instance", "IDP_IP_LOCKOUT_AFTER": "100000",
        })
        env.update({k: str(v) for k, v in env_overrides.items()})
        directory = tmp_path / f"server-{len(started)}"
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory / "metrics")
        if command == "gunicorn":
            argv = [GUNICORN, "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                    "--workers", str(workers), "wsgi:app"]
        else:
            argv = [IDP, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        server = Server(argv, env, directory, port)
        started.append(server)
        server.wait_until_up()
        return server

    yield start
    for server in started:
        server.stop()
