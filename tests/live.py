"""Live servers on loopback for the tests that speak real HTTP (flows, relying parties, browsers)."""
from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(wsgi_app, base_url: str):
    """Serve `wsgi_app` at `base_url` in a daemon thread; returns a function that stops it."""
    server = make_server("127.0.0.1", urlsplit(base_url).port, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(5)
    return stop
