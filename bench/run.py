"""`make bench`: our IdP against the OpenID-certified reference (node oidc-provider), on this machine,
in one run, driven by the same client (bench/driver.py), interleaved, three repetitions.

What is compared is server CPU per operation: the user+system time of the process that does the
work (gunicorn's one worker; the one Node process), before and after each batch, divided by the
operations in it. The client's own latency (p50/p99) and rate are reported beside it; they include
the client and the loopback network. Our IdP runs in production form — gunicorn, one worker, one
thread — on PostgreSQL + Redis when IDP_BENCH_DATABASE_URL and IDP_BENCH_REDIS_URL are set (the
database's tables are dropped and recreated: give the bench its own database), else on SQLite and
the in-process store. Results: a table on stdout, JSON in bench/results/latest.json.

Knobs: BENCH_SCALE (operations per batch, ×; default 1), BENCH_REPETITIONS (3), BENCH_RSA_BITS
(the reference's RSA key; default 2048), BENCH_WORKER_CLASS (sync, the default, or gthread),
BENCH_APP_DIR (the checkout gunicorn serves; default this one — point it at an exported older
commit to measure "before"), BENCH_OUTPUT (the JSON path).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import extras, floor, processes
from bench.driver import REDIRECT_URI, Target
from bench.totp_pool import TotpPool

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT / "bench" / "reference"

# operation → (operations per batch at scale 1, target ratio from issue 10, description)
OPERATIONS = {
    "discovery": (300, 1.0, "GET /.well-known/openid-configuration"),
    "jwks": (300, None, "GET jwks_uri"),
    "code_flow_rs256": (40, 1.0, "signed-in code flow (authorize + token), RS256"),
    "code_flow_es256": (40, 0.6, "signed-in code flow (authorize + token), ES256"),
    "refresh": (80, 1.0, "refresh grant (rotating)"),
    "userinfo": (200, 1.0, "userinfo (bearer)"),
    "cold_flow": (10, None, "cold flow: sign-in form + password (+ TOTP, ours) + code + token"),
}


def ours_target(base_url: str, prepared: dict, pool: TotpPool) -> Target:
    """The driver for our IdP: every sign-in (a browser's first, each cold flow) takes an identity
    and its TOTP code from `pool` (shared by all our targets of a run: a code is spent per identity)."""
    return Target("ours", base_url, prepared["username"], prepared["password"], prepared["clients"],
                  sign_ins=pool.take)


def run_operation(target: Target, name: str) -> None:
    if name == "discovery":
        target.discovery()
    elif name == "jwks":
        target.jwks()
    elif name.startswith("code_flow_"):
        target.code_flow(name.rsplit("_", 1)[1].upper())
    elif name == "refresh":
        target.refresh()
    elif name == "userinfo":
        target.userinfo()
    elif name == "cold_flow":
        target.cold_flow()
    else:
        raise ValueError(name)


def batch(server, target: Target, name: str, count: int) -> dict:
    """`count` operations back to back; the server's CPU time and each operation's latency."""
    if name in ("refresh", "userinfo") and "access_token" not in target.tokens:
        target.code_flow("RS256")
    latencies = []
    requests_before = target.requests_sent
    cpu_before, wall_before = server.cpu(), time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        run_operation(target, name)
        latencies.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - wall_before, server.cpu() - cpu_before
    return {"count": count, "cpu_s": cpu, "wall_s": wall, "latencies": latencies,
            "requests": target.requests_sent - requests_before}


def summarise(batches: list[dict], rss: float) -> dict:
    count = sum(b["count"] for b in batches)
    latencies = sorted(x for b in batches for x in b["latencies"])
    return {
        "operations": count,
        "cpu_ms_per_op": 1000 * sum(b["cpu_s"] for b in batches) / count,
        "cpu_ms_per_op_by_repetition": [round(1000 * b["cpu_s"] / b["count"], 3) for b in batches],
        "requests_per_op": sum(b["requests"] for b in batches) / count,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "ops_per_s": count / sum(b["wall_s"] for b in batches),
        "rss_mib": rss,
    }


def argon2_verify_ms(rounds: int = 5) -> float:
    """CPU of one argon2id verification with our parameters (in this process): the part of a cold
    flow the reference, which compares its password without hashing, does not do."""
    from idp.identity import passwords

    stored = passwords.hash_password("Bench-password-for-timing-2031")
    start = time.process_time()
    for _ in range(rounds):
        assert passwords.verify_password(stored, "Bench-password-for-timing-2031")
    return 1000 * (time.process_time() - start) / rounds


# --- the two servers ------------------------------------------------------------------------------

def ensure_reference() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("bench: node and npm are needed for the reference provider (make bench installs them)")
    if not all((REFERENCE_DIR / "node_modules" / package).exists() for package in ("oidc-provider", "ioredis")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=REFERENCE_DIR, check=True)


def reference_adapter() -> str:
    """Where the reference keeps its codes, tokens, sessions and grants: in its own memory (its
    default, and issue 10's reference), or — BENCH_REFERENCE_ADAPTER=redis, with IDP_BENCH_REDIS_URL —
    in Redis (bench/reference/redis_adapter.mjs), paying for storage round trips as ours does."""
    value = os.environ.get("BENCH_REFERENCE_ADAPTER", "memory")
    if value not in ("memory", "redis"):
        sys.exit("bench: BENCH_REFERENCE_ADAPTER is memory or redis")
    if value == "redis" and not os.environ.get("IDP_BENCH_REDIS_URL"):
        sys.exit("bench: BENCH_REFERENCE_ADAPTER=redis needs IDP_BENCH_REDIS_URL")
    return value


def start_reference(work: Path, clients: dict, account: dict, rsa_bits: int):
    port = processes.free_port()
    env = {**os.environ, "PORT": str(port), "BENCH_RSA_BITS": str(rsa_bits), "NODE_ENV": "production",
           "BENCH_CLIENTS": json.dumps([{**c, "redirect_uris": [REDIRECT_URI], "id_token_alg": alg}
                                        for alg, c in clients.items()]),
           "BENCH_ACCOUNT": json.dumps(account)}
    env.pop("BENCH_REFERENCE_REDIS_URL", None)
    if reference_adapter() == "redis":
        env["BENCH_REFERENCE_REDIS_URL"] = os.environ["IDP_BENCH_REDIS_URL"]
    return processes.start("reference", ["node", "server.mjs"], env, REFERENCE_DIR, port, work,
                           "/.well-known/openid-configuration")


def ours_settings(work: Path, port: int) -> dict:
    database_url = os.environ.get("IDP_BENCH_DATABASE_URL", "")
    redis_url = os.environ.get("IDP_BENCH_REDIS_URL", "")
    if bool(database_url) != bool(redis_url):
        sys.exit("bench: set both IDP_BENCH_DATABASE_URL and IDP_BENCH_REDIS_URL, or neither")
    return {"issuer": f"http://127.0.0.1:{port}", "instance_path": str(work / "instance"),
            "keys_path": str(work / "keys"), "redis_url": redis_url,
            "database_url": database_url or f"sqlite:///{work / 'idp.sqlite3'}"}


def gunicorn_command(app: str, app_dir: Path, port: int, workers: int = 1, worker_kind: str | None = None,
                     threads: int = 1) -> list[str]:
    """How our IdP is served (and, for bench/floor.py, a bare app under the same configuration)."""
    return [str(Path(sys.executable).parent / "gunicorn"), app, "--chdir", str(app_dir),
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", worker_kind or worker_class(),
            "--threads", str(threads), "--keep-alive", "60", "--timeout", "120", "--log-level", "warning"]


def start_ours(work: Path, settings: dict, app_dir: Path, workers: int = 1, name: str = "ours",
               worker_kind: str | None = None, threads: int = 1):
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update({"IDP_" + key.upper(): value for key, value in settings.items()})
    port = int(settings["issuer"].rsplit(":", 1)[1])
    command = gunicorn_command("wsgi:app", app_dir, port, workers, worker_kind, threads)
    return processes.start(name, command, env, app_dir, port, work, "/.well-known/openid-configuration",
                           worker=True, workers=workers)


def worker_class() -> str:
    """gunicorn's default sync worker (what `gunicorn wsgi:app` runs: a connection per request), or
    gthread (what --threads > 1 runs; keep-alive) when BENCH_WORKER_CLASS says so. gthread's event
    loop costs about 0.2 ms of CPU per request here, most of discovery's cost."""
    value = os.environ.get("BENCH_WORKER_CLASS", "sync")
    if value not in ("gthread", "sync"):
        sys.exit("bench: BENCH_WORKER_CLASS is gthread or sync")
    return value


# --- the run ------------------------------------------------------------------------------------

def main() -> None:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    repetitions = int(os.environ.get("BENCH_REPETITIONS", "3"))
    rsa_bits = int(os.environ.get("BENCH_RSA_BITS", "2048"))
    app_dir = Path(os.environ.get("BENCH_APP_DIR", ROOT)).resolve()
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "bench" / "results" / "latest.json"))
    ensure_reference()
    work = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    servers = []
    try:
        from bench.setup_ours import prepare

        settings = ours_settings(work, processes.free_port())
        mode = "PostgreSQL + Redis" if settings["redis_url"] else "SQLite + in-process store"
        print(f"bench: preparing our IdP ({mode}) in {work}", flush=True)
        # identities enough for every cold flow of the run, each its own TOTP time step: no waits
        prepared = prepare(settings, max(32, repetitions * max(1, round(OPERATIONS["cold_flow"][0] * scale)) + 8))
        pool = TotpPool.from_prepared(prepared["totp"])
        sp = extras.prepare_saml(settings)
        account = {"sub": "bench-citizen", "username": prepared["username"], "password": prepared["password"],
                   "claims": {"name": "Mohammed Abdullah Alqahtani", "given_name": "Mohammed",
                              "family_name": "Alqahtani", "birthdate": "1990-03-15", "gender": "male",
                              "email": "bench.citizen@example.com", "email_verified": True}}
        reference = start_reference(work, prepared["clients"], account, rsa_bits)
        servers.append(reference)
        ours = start_ours(work, settings, app_dir)
        servers.append(ours)
        targets = {
            "reference": (reference, Target("reference", reference.base_url, account["username"],
                                            account["password"], prepared["clients"])),
            "ours": (ours, ours_target(ours.base_url, prepared, pool)),
        }
        print("bench: warming up (a first sign-in per client, a few of each operation)", flush=True)
        for server, target in targets.values():
            target.discover()
            for alg in ("RS256", "ES256"):
                target.code_flow(alg)  # the first one signs the browser in
            for name in OPERATIONS:
                batch(server, target, name, 3)
        results = {side: {name: [] for name in OPERATIONS} for side in targets}
        started = time.monotonic()
        for repetition in range(repetitions):
            order = list(targets) if repetition % 2 == 0 else list(reversed(targets))
            for name, (count, _target, _what) in OPERATIONS.items():
                for side in order:
                    server, target = targets[side]
                    results[side][name].append(batch(server, target, name, max(1, round(count * scale))))
            print(f"bench: repetition {repetition + 1}/{repetitions} done "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
        summary = {side: {name: summarise(batches, targets[side][0].rss())
                          for name, batches in per_op.items()} for side, per_op in results.items()}
        print("bench: the floor (bare servers answering fixed bytes)", flush=True)
        floors = floor.measure(work, lambda app, port: gunicorn_command(app, ROOT, port), REFERENCE_DIR,
                               repetitions, scale)
        argon2_ms = argon2_verify_ms()
        report = build_report(summary, argon2_ms, mode, rsa_bits, our_rsa_bits(targets["ours"][1]),
                              repetitions, scale, app_dir, floors)
        report["password_sign_ins"] = extras.password_sign_ins(summary["ours"]["cold_flow"]["cpu_ms_per_op"],
                                                               argon2_ms)
        print("bench: SAML SSO (ours only)", flush=True)
        report["saml_sso"] = extras.measure_saml(ours, targets["ours"][1], sp,
                                                 max(5, round(extras.SAML_SSO_COUNT * scale)))
        report["workers"] = measure_workers(work, app_dir, prepared, pool, scale) if settings["redis_url"] else \
            {"skipped": "several workers need Redis (IDP_BENCH_REDIS_URL): the in-process store is per worker"}
        # a wait for the next TOTP step would be in the client's latency (not the server's CPU)
        report["totp_pool"] = {"identities": len(pool.identities), "waits_for_a_step": pool.waits}
        print(table(report))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: JSON in {output}")
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


# (workers, worker class, threads): what `--workers` buys, and sync against gthread (the production
# config's class) under the same concurrent load.
WORKER_VARIANTS = [(1, "sync", 1), (2, "sync", 1), (1, "gthread", 8), (2, "gthread", 8)]
CONCURRENT_CLIENTS = 4


def measure_workers(work: Path, app_dir: Path, prepared: dict, pool: TotpPool, scale: float) -> dict:
    """Each variant of WORKER_VARIANTS driven by CONCURRENT_CLIENTS clients at once (code flows, RS256)."""
    results = {}
    for workers, kind, threads in WORKER_VARIANTS:
        label = f"{workers}x{kind}" + (f"x{threads}" if kind == "gthread" else "")
        print(f"bench: {label} ({workers} worker(s), {kind}), {CONCURRENT_CLIENTS} clients at once", flush=True)
        settings = ours_settings(work, processes.free_port())
        server = start_ours(work, settings, app_dir, workers=workers, name=f"ours-{label}", worker_kind=kind,
                            threads=threads)
        try:
            clients = [ours_target(server.base_url, prepared, pool) for _ in range(CONCURRENT_CLIENTS)]
            for client in clients:
                client.discover()
                client.code_flow("RS256")  # signs this client's browser in
            results[label] = {"workers": workers, "worker_class": kind, "threads": threads,
                              **extras.measure_concurrent(server, clients,
                                                          max(5, round(extras.WORKERS_FLOWS_PER_CLIENT * scale)))}
        finally:
            server.stop()
    return results


def our_rsa_bits(target: Target) -> int | None:
    import base64

    keys = target.backend.get(target.endpoints["jwks_uri"]).json()["keys"]
    for key in keys:
        if key.get("kty") == "RSA":
            return len(base64.urlsafe_b64decode(key["n"] + "==")) * 8
    return None


def build_report(summary, argon2_ms, mode, rsa_bits, ours_rsa, repetitions, scale, app_dir, floors=None) -> dict:
    rows = []
    for name, (_count, target, what) in OPERATIONS.items():
        ref, ours = summary["reference"][name], summary["ours"][name]
        ref_ms = ref["cpu_ms_per_op"]
        ratio = ours["cpu_ms_per_op"] / ref_ms if ref_ms else None
        if name == "cold_flow" and ref_ms:  # issue 10: ≤ argon2id verification + 1.5 × the reference's
            target = (argon2_ms + 1.5 * ref_ms) / ref_ms
        rows.append({"operation": name, "what": what, "target_ratio": target, "ratio": ratio,
                     "reference": ref, "ours": ours,
                     **({"above_floor": floor.compare_above_floor(ours, ref, floors)} if floors else {})})
    return {"mode": mode, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "node": subprocess.run(["node", "--version"], capture_output=True,
                                               text=True).stdout.strip(),
                        "load_average": os.getloadavg()},
            "reference": {"package": "oidc-provider", "version": reference_version(), "rsa_bits": rsa_bits,
                          "adapter": reference_adapter()},
            "ours": {"server": f"gunicorn, 1 worker, {worker_class()}, 1 thread", "rsa_bits": ours_rsa,
                     "app_dir": str(app_dir)},
            "repetitions": repetitions, "scale": scale, "argon2id_verify_ms": argon2_ms, "rows": rows,
            **({"floor": floors} if floors else {})}


def reference_version() -> str:
    package = REFERENCE_DIR / "node_modules" / "oidc-provider" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else "?"


def table(report: dict) -> str:
    def ms(value):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"

    head = (f"\nour IdP ({report['mode']}; RSA {report['ours']['rsa_bits']}) vs oidc-provider "
            f"{report['reference']['version']} (RSA {report['reference']['rsa_bits']}; "
            f"{report['reference'].get('adapter', 'memory')} adapter); server CPU per "
            f"operation; {report['repetitions']} repetitions; load average "
            f"{report['machine']['load_average'][0]:.1f} on {report['machine']['cpus']} CPUs\n")
    columns = ["operation", "ref ms/op", "ours ms/op", "ratio", "target", "above floor: srv / fw",
               "p50 ms ref/ours", "p99 ms ref/ours", "ops/s ref/ours", "RSS MiB ref/ours"]
    lines = [columns]
    for row in report["rows"]:
        ref, ours = row["reference"], row["ours"]
        lines.append([
            row["operation"], ms(ref["cpu_ms_per_op"]), ms(ours["cpu_ms_per_op"]),
            f"{row['ratio']:.2f}×" if row["ratio"] else "-",
            f"≤ {row['target_ratio']:.2f}×" if row["target_ratio"] else "-",
            above_floor_cell(row.get("above_floor")),
            f"{ms(ref['p50_ms'])}/{ms(ours['p50_ms'])}", f"{ms(ref['p99_ms'])}/{ms(ours['p99_ms'])}",
            f"{ref['ops_per_s']:.0f}/{ours['ops_per_s']:.0f}", f"{ref['rss_mib']:.0f}/{ours['rss_mib']:.0f}",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    out = [head]
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                             for i, cell in enumerate(line)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    out += floor_lines(report)
    out.append(f"\nargon2id verification (ours, not in the reference's cold flow): "
               f"{report['argon2id_verify_ms']:.1f} ms; cold-flow target = that + 1.5 × the reference's.")
    out.append("ratio = ours / reference CPU per operation (lower is better); p50/p99 and ops/s are the "
               "one sequential client's view.")
    pool = report.get("totp_pool")
    if pool:
        out.append(f"ours' cold flow also answers a TOTP code (a second page, which the reference does not "
                   f"have): {pool['identities']} identities, each code used once; "
                   f"{pool['waits_for_a_step']} waits for a TOTP step.")
    signing_in = report.get("password_sign_ins")
    if signing_in:
        out.append(f"password sign-ins (cold flow) per core: {signing_in['per_core_per_s']:.1f}/s; the argon2id "
                   f"bound: {signing_in['argon2id_bound_per_core_per_s']:.1f}/s")
    saml = report.get("saml_sso")
    if saml:
        out.append(f"SAML SSO (signed request, signed + encrypted assertion; CPU with xmlsec1's): "
                   f"{saml['cpu_ms_per_op']:.1f} ms/op = {saml['responses_per_s_per_core']:.1f} responses/s per "
                   f"core; p50/p99 {saml['p50_ms']:.1f}/{saml['p99_ms']:.1f} ms; {saml['ops_per_s']:.1f}/s")
    workers = report.get("workers") or {}
    if "skipped" in workers:
        out.append(f"workers: {workers['skipped']}")
    for label, result in workers.items():
        if label != "skipped":
            out.append(f"{result['workers']} worker(s), {result['worker_class']}"
                       f"{' × ' + str(result['threads']) + ' threads' if result['worker_class'] == 'gthread' else ''}"
                       f", {result['clients']} clients at once, code flows: {result['ops_per_s']:.1f}/s, "
                       f"{result['cpu_ms_per_op']:.2f} ms CPU/op, RSS {result['rss_mib']:.0f} MiB")
    return "\n".join(out)


def above_floor_cell(compared: dict | None) -> str:
    """The ratio of what each side spends above its server floor / above its framework floor."""
    if not compared:
        return "-"
    return " / ".join(f"{compared[level]['ratio']:.2f}×" if compared[level]["ratio"] else "-"
                      for level in floor.LEVELS)


def floor_lines(report: dict) -> list[str]:
    floors = report.get("floor")
    if not floors:
        return []
    out = ["", "floor: CPU per request of a server answering fixed bytes, same server config, same client"]
    for level in floor.LEVELS:
        ours, ref = floors["ours"][level], floors["reference"][level]
        out.append(f"  {level:<9}  ours {ours['cpu_ms_per_request']:.3f} ms ({ours['what']}); "
                   f"reference {ref['cpu_ms_per_request']:.3f} ms ({ref['what']}); "
                   f"ratio {ours['cpu_ms_per_request'] / ref['cpu_ms_per_request']:.2f}×")
    per_op = ", ".join(f"{row['operation']} {row['reference']['requests_per_op']:g}/{row['ours']['requests_per_op']:g}"
                       for row in report["rows"])
    out.append(f"  HTTP requests per operation, ref/ours: {per_op}")
    out.append("  above floor = (CPU per operation − requests per operation × that side's floor), ours ÷ reference: "
               "srv with the server floor, fw with the framework floor")
    return out


if __name__ == "__main__":
    main()
