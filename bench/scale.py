"""`make bench-scale`: is latency flat as the registry and the identities grow (issue 10 item 2)?

Our IdP in production form (gunicorn, one worker) on PostgreSQL + Redis (IDP_BENCH_DATABASE_URL,
IDP_BENCH_REDIS_URL; the database's tables are dropped and recreated). The same operations are
measured at 1,000 registry people and 1,000 identities, then again after the database has grown to
BENCH_SCALE_PEOPLE (1,000,000) people and BENCH_SCALE_IDENTITIES (100,000) identities, and the p50
latencies are compared (target: within 20%). People are added with the registry's own bulk seed
(COPY), identities with one INSERT … SELECT in the database (every one with the bench citizen's
password hash: hashing 100,000 passwords would take an hour and measures nothing here). A table on
stdout, JSON in bench/results/scale-latest.json (BENCH_OUTPUT).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench import processes
from bench.driver import Target
from bench.run import ROOT, ours_settings, ours_target, run_operation, start_ours
from bench.totp_pool import TotpPool

OPERATIONS = {"code_flow_rs256": 60, "refresh": 80, "userinfo": 150, "cold_flow": 8}
TARGET_RATIO = 1.2  # issue 10: p50 within 20%


def grow(database_url: str, people: int, identities: int) -> dict:
    """Add synthetic people and identities up to the given totals; returns the totals reached."""
    from idp.db import Database
    from idp.identity import registry

    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            have_people = connection.scalar(text("SELECT count(*) FROM registry_people"))
        if people > have_people:
            registry.seed(database, people - have_people, seed=10)
        with database.engine.begin() as connection:
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            have = connection.scalar(text("SELECT count(*) FROM identities"))
            if identities > have:
                connection.execute(text("""
                    INSERT INTO identities (uuid, subject_seed, national_id, username, email, email_verified,
                                            password_hash, password_changed_at, status, created_at)
                    SELECT gen_random_uuid()::text, md5(random()::text), p.national_id, 'b' || p.national_id,
                           'b' || p.national_id || '@example.com', true,
                           (SELECT password_hash FROM identities ORDER BY id LIMIT 1), now(), 'active', now()
                    FROM registry_people p
                    WHERE NOT EXISTS (SELECT 1 FROM identities i WHERE i.national_id = p.national_id)
                    LIMIT :n"""), {"n": identities - have})
            connection.execute(text("ANALYZE registry_people"))
            connection.execute(text("ANALYZE identities"))
        with database.engine.connect() as connection:
            return {"people": connection.scalar(text("SELECT count(*) FROM registry_people")),
                    "identities": connection.scalar(text("SELECT count(*) FROM identities"))}
    finally:
        database.dispose()


def measure(server, target: Target, repetitions: int) -> dict:
    results = {}
    for name, count in OPERATIONS.items():
        latencies, cpu = [], 0.0
        for _ in range(repetitions):
            before = server.cpu()
            for _ in range(count):
                start = time.perf_counter()
                run_operation(target, name)
                latencies.append(time.perf_counter() - start)
            cpu += server.cpu() - before
        results[name] = {"p50_ms": 1000 * statistics.median(latencies),
                         "cpu_ms_per_op": 1000 * cpu / (count * repetitions), "operations": count * repetitions}
    return results


def main() -> None:
    from bench.setup_ours import prepare

    if not os.environ.get("IDP_BENCH_DATABASE_URL", "").startswith("postgresql"):
        sys.exit("bench-scale: set IDP_BENCH_DATABASE_URL (PostgreSQL) and IDP_BENCH_REDIS_URL")
    people = int(os.environ.get("BENCH_SCALE_PEOPLE", "1000000"))
    identities = int(os.environ.get("BENCH_SCALE_IDENTITIES", "100000"))
    repetitions = int(os.environ.get("BENCH_REPETITIONS", "3"))
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "bench" / "results" / "scale-latest.json"))
    work = Path(tempfile.mkdtemp(prefix="idp-bench-scale-"))
    server = None
    try:
        settings = ours_settings(work, processes.free_port())
        prepared = prepare(settings)
        sizes = {"small": (1000, 1000), "large": (people, identities)}
        server = start_ours(work, settings, ROOT)
        target = ours_target(server.base_url, prepared, TotpPool.from_prepared(prepared["totp"]))
        target.discover()
        target.code_flow("RS256")
        report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "repetitions": repetitions,
                  "load_average": os.getloadavg(), "target_ratio": TARGET_RATIO, "runs": {}}
        for label, (want_people, want_identities) in sizes.items():
            started = time.monotonic()
            reached = grow(settings["database_url"], want_people, want_identities)
            print(f"bench-scale: {reached['people']:,} people, {reached['identities']:,} identities "
                  f"({time.monotonic() - started:.0f} s to seed)", flush=True)
            for name in OPERATIONS:  # warm: plans and caches for this size
                run_operation(target, name)
            report["runs"][label] = {**reached, "results": measure(server, target, repetitions)}
        print(table(report))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench-scale: JSON in {output}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def table(report: dict) -> str:
    small, large = report["runs"]["small"], report["runs"]["large"]
    lines = [f"\np50 latency, {small['people']:,} people / {small['identities']:,} identities vs "
             f"{large['people']:,} / {large['identities']:,} (target: ratio ≤ {report['target_ratio']})",
             f"{'operation':<16} {'p50 small':>10} {'p50 large':>10} {'ratio':>6} {'CPU ms small/large':>19}"]
    for name in OPERATIONS:
        a, b = small["results"][name], large["results"][name]
        lines.append(f"{name:<16} {a['p50_ms']:>10.2f} {b['p50_ms']:>10.2f} {b['p50_ms'] / a['p50_ms']:>6.2f} "
                     f"{a['cpu_ms_per_op']:>9.2f}/{b['cpu_ms_per_op']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
