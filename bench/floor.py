"""The floor under each side's CPU per operation: the same server, under the same configuration and
driven by the same client, answering fixed bytes with no application behind it.

    ours       server: a bare WSGI callable under gunicorn (bench/floor_apps.py:bare_wsgi)
               framework: a bare Flask app with one route (bench/floor_apps.py:bare_flask)
    reference  server: a bare node:http server (bench/reference/floor.mjs)
               framework: a bare Koa app, oidc-provider's framework (the same file, FLOOR_KIND=koa)

Each operation is some HTTP requests (the driver counts them); subtracting requests × floor from
each side's CPU per operation leaves the CPU its application spends, and the ratio of those is the
part of the gap that is ours to close rather than the runtime's and the server's.
"""
from __future__ import annotations

import os
from pathlib import Path

import requests

from bench import processes

FLOOR_REQUESTS = 1500  # per repetition; a request costs a fraction of a millisecond
LEVELS = ("server", "framework")


def above_floor(cpu_ms_per_op: float, requests_per_op: float, floor_ms_per_request: float) -> float:
    """The CPU per operation left when every request's floor is taken away (never below zero)."""
    return max(0.0, cpu_ms_per_op - requests_per_op * floor_ms_per_request)


def compare_above_floor(ours: dict, reference: dict, floors: dict) -> dict:
    """For one operation (each side's summary: cpu_ms_per_op, requests_per_op) and the measured
    floors ({side: {level: {"cpu_ms_per_request": …}}}): each side's CPU above each level's floor
    and their ratio (None when the reference has nothing left above it)."""
    result = {}
    for level in LEVELS:
        left = {side: above_floor(summary["cpu_ms_per_op"], summary["requests_per_op"],
                                  floors[side][level]["cpu_ms_per_request"])
                for side, summary in (("ours", ours), ("reference", reference))}
        result[level] = {**left, "ratio": left["ours"] / left["reference"] if left["reference"] else None}
    return result


def measure_one(server: processes.Server, count: int, repetitions: int) -> dict:
    """CPU per request of `server` for `count` GETs of / (one client, keep-alive where offered)."""
    client = requests.Session()
    try:
        for _ in range(50):
            client.get(server.base_url + "/").raise_for_status()
        per_repetition = []
        for _ in range(repetitions):
            before = server.cpu()
            for _ in range(count):
                client.get(server.base_url + "/").raise_for_status()
            per_repetition.append(1000 * (server.cpu() - before) / count)
    finally:
        client.close()
    return {"cpu_ms_per_request": sum(per_repetition) / len(per_repetition),
            "cpu_ms_per_request_by_repetition": [round(x, 4) for x in per_repetition], "requests": count * repetitions}


def measure(work: Path, gunicorn_command, reference_dir: Path, repetitions: int, scale: float = 1.0) -> dict:
    """The four floors. `gunicorn_command(app_spec, port)`: the command that serves our IdP, for
    another WSGI app (the same worker class, threads, keep-alive and log level)."""
    count = max(100, round(FLOOR_REQUESTS * scale))
    root = Path(__file__).resolve().parent.parent
    described = {
        ("ours", "server"): "bare WSGI callable, same gunicorn config",
        ("ours", "framework"): "bare Flask app (one route), same gunicorn config",
        ("reference", "server"): "bare node:http server",
        ("reference", "framework"): "bare Koa app (oidc-provider's framework)",
    }
    floors: dict = {"ours": {}, "reference": {}}
    for (side, level), what in described.items():
        port = processes.free_port()
        name = f"floor-{side}-{level}"
        if side == "ours":
            app = "bench.floor_apps:bare_wsgi" if level == "server" else "bench.floor_apps:bare_flask"
            env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
            server = processes.start(name, gunicorn_command(app, port), env, root, port, work, "/", worker=True)
        else:
            env = {**os.environ, "PORT": str(port), "FLOOR_KIND": "http" if level == "server" else "koa",
                   "NODE_ENV": "production"}
            server = processes.start(name, ["node", "floor.mjs"], env, reference_dir, port, work, "/")
        try:
            floors[side][level] = {"what": what, **measure_one(server, count, repetitions)}
        finally:
            server.stop()
    return floors
