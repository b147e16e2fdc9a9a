# gunicorn configuration of the identity provider: the production command is
#
#     .venv/bin/gunicorn -c config/gunicorn.conf.py --bind 0.0.0.0:8000 --workers 4 wsgi:app
#
# (or `idp serve --bind … --workers …`, which runs exactly this). Options given on the command
# line win over this file. README "Running in production" explains the choices below.
import os
import shutil
import signal
import tempfile
import threading

# --- metrics (first: before anything imports prometheus_client) ------------------------------
# Every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR; a scrape of any worker
# reads all of them. The directory must be empty at start and a dead worker's live gauges
# removed, or an instance reports values of processes long gone.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


# --- workers -----------------------------------------------------------------------------------
# Threads, not processes alone: most of a request is waiting on PostgreSQL and Redis. argon2
# (the one CPU-heavy step) releases the GIL, and each worker lets only
# IDP_PASSWORD_CHECKS_PER_WORKER of them run at once (more get 503 + Retry-After), so the other
# threads stay free for probes, discovery, JWKS and tokens. Measured (`make bench`, four clients at
# once, code flows, one worker on two shared cores): gthread × 8 served 31.4/s at 13.0 ms of CPU
# each, the sync worker 13.4/s at 15.8 ms (it waits idle on every round trip, and closes every
# connection, where gthread keeps them alive).
worker_class = "gthread"
workers = int(os.environ.get("IDP_WORKERS") or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                 else os.cpu_count() or 1))
threads = int(os.environ.get("IDP_THREADS") or 8)

# --- time limits -------------------------------------------------------------------------------
# A worker silent for `timeout` seconds is killed and replaced (a request stuck past every
# dependency's own timeout: PostgreSQL statements, Redis 2 s, SMTP is off the request path).
timeout = 30
# On SIGTERM a worker first drains for IDP_DRAIN_SECONDS — /readyz answers 503 while requests
# are still served, so the balancer stops sending new ones — then stops accepting and lets
# requests in flight finish. graceful_timeout bounds both together before the master kills it.
drain_seconds = float(os.environ.get("IDP_DRAIN_SECONDS") or 5)
graceful_timeout = int(drain_seconds + timeout)
# Kept-alive connections from the balancer: below the balancer's own idle timeout, so the
# balancer never sends a request on a connection gunicorn is closing.
keepalive = 5

# --- recycling ---------------------------------------------------------------------------------
# Each worker is replaced after about this many requests (jitter spreads the restarts, so the
# workers of an instance never recycle together): bounds the effect of any slow leak.
max_requests = 5000
max_requests_jitter = 500

# --- requests ----------------------------------------------------------------------------------
limit_request_line = 8190  # authorization requests carry long query strings (request objects, PKCE)
limit_request_fields = 100
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeats off the disk
# gunicorn's control socket (gunicornc) is one path per user: several instances on one host
# would share it. Signals (TERM, HUP, TTIN/TTOU) are the interface the runbook uses.
control_socket_disable = True

# --- logs: JSON lines on stderr (app and gunicorn) and an access log on stdout -------------------
os.environ.setdefault("IDP_LOG_FORMAT", "json")
accesslog = "-"
errorlog = "-"
loglevel = "info"
from idp.logs import gunicorn_logger_class  # noqa: E402 - after the environment above

logger_class = gunicorn_logger_class()


def on_starting(server):
    """In the master, before any worker: refuse a configuration that cannot work."""
    from idp.errors import ConfigError
    from idp.settings import load_settings

    try:
        settings = load_settings()
    except ConfigError as e:
        raise RuntimeError(str(e)) from None
    if server.cfg.workers > 1 and not settings.redis_url:
        # Each worker would keep its own sessions, throttle counters and used TOTP codes: a
        # code accepted by one worker could be accepted again by another.
        raise RuntimeError(f"{server.cfg.workers} workers need a shared store: set IDP_REDIS_URL "
                           "(or run --workers 1)")
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))


def post_worker_init(worker):
    """In each worker, once the app is loaded: drain on SIGTERM, start the mail sender."""
    from idp import probes

    stop = worker.handle_exit

    def drain(sig, frame):
        if probes.DRAINING.is_set():
            return
        probes.DRAINING.set()
        worker.log.info("draining for %.1f s before stopping", drain_seconds)
        timer = threading.Timer(drain_seconds, stop, args=(sig, None))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain)
    app = worker.wsgi
    services = getattr(app, "extensions", {}).get("idp")
    if services is not None and services.mailer.delivery == "background":
        services.mailer.start_sender()  # also delivers what an earlier run left queued


def worker_exit(server, worker):
    services = getattr(worker.wsgi, "extensions", {}).get("idp")
    if services is not None:
        services.mailer.stop_sender(timeout=2)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
