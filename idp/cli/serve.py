"""idp serve: the production command (gunicorn with config/gunicorn.conf.py), under one name."""
from __future__ import annotations

import os
import sys

import click

from idp.resources import default_home
from idp.settings import CONFIG_DIR

GUNICORN_CONFIG = CONFIG_DIR / "gunicorn.conf.py"


def gunicorn_argv(bind: str, workers: int | None, threads: int | None) -> list[str]:
    """The command line `idp serve` runs: the README's production command."""
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--chdir", str(default_home()),
            "--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    if threads:
        argv += ["--threads", str(threads)]
    return argv + ["wsgi:app"]


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: IDP_WORKERS, else the CPUs).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads per worker (default: IDP_THREADS, else 8).")
def command(bind, workers, threads):
    """Run the identity provider with gunicorn, as in production."""
    argv = gunicorn_argv(bind, workers, threads)
    os.execv(argv[0], argv)  # gunicorn becomes this process: signals reach its master directly
