"""Real backing services that a test may stop, restart empty or restore: a `redis_server` of its
own (no persistence, so a restart loses everything, as an operator's restart would) and a
throwaway PostgreSQL cluster (`pg_cluster`, made with initdb/pg_ctl where they exist)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests.live import free_port


class RedisServer:
    """A redis-server on a spare loopback port, without persistence (`--save '' --appendonly no`)."""

    def __init__(self, binary: str, workdir: Path):
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        """Stop it hard (SIGKILL): what it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server for this test; killed at the end. Skips where redis-server is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.kill()


PG_BIN_DIRS = ["/usr/local/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin",
               "/usr/lib/postgresql/14/bin"]


def _pg_binary(name: str) -> str | None:
    for folder in PG_BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a spare port, trust authentication on loopback only."""

    def __init__(self, root: Path, run_as: str | None):
        self.root, self.run_as = root, run_as
        self.data = root / "data"
        self.port = free_port()

    def _run(self, *command: str, **kwargs):
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run(prefix + list(command), check=True, capture_output=True, text=True,
                              timeout=120, **kwargs)

    def start(self) -> None:
        self._run(_pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        self._run(_pg_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self) -> None:
        subprocess.run((["runuser", "-u", self.run_as, "--"] if self.run_as else [])
                       + [_pg_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, *args: str, database: str = "postgres") -> str:
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-v", "ON_ERROR_STOP=1", "-qAt", *args],
                              check=True, capture_output=True, text=True, timeout=120).stdout

    def create_database(self, name: str) -> None:
        self.psql("-c", f'CREATE DATABASE "{name}"')

    def dump(self, database: str, path: Path) -> None:
        """pg_dump in the custom format, as a nightly backup would be taken."""
        subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Fc",
                        "-f", str(path), database], check=True, capture_output=True, timeout=120)

    def restore(self, path: Path, database: str) -> None:
        """pg_restore into a new, empty database."""
        self.create_database(database)
        subprocess.run(["pg_restore", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "--exit-on-error", "--no-owner", "-d", database, str(path)],
                       check=True, capture_output=True, timeout=120)


@pytest.fixture
def pg_cluster():
    """A PostgreSQL cluster of this test's own. Skips (with the reason) where initdb, pg_ctl,
    pg_dump or pg_restore is missing."""
    missing = [name for name in ("initdb", "pg_ctl") if _pg_binary(name) is None]
    missing += [name for name in ("pg_dump", "pg_restore", "psql") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"PostgreSQL binaries not found: {', '.join(missing)}")
    run_as = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            run_as = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user for initdb")
    root = Path(tempfile.mkdtemp(prefix="idp-pg-"))
    if run_as:
        shutil.chown(root, user=run_as)
    cluster = PostgresCluster(root, run_as)
    try:
        cluster.start()
    except subprocess.CalledProcessError as e:  # the binaries are there: a failure is a failure
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"throwaway PostgreSQL cluster did not start: {e.stderr}") from e
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)
