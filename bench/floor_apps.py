"""Our side's floor for `make bench` (bench/floor.py), served by gunicorn exactly as our IdP is:
what one request costs when the application does nothing. `bare_wsgi` is a WSGI callable (the
server and the runtime alone); `bare_flask` a Flask app with one route (plus the framework). Both
answer every request with the same fixed JSON bytes."""
from __future__ import annotations

from flask import Flask

BODY = b'{"floor":true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def bare_wsgi(_environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


bare_flask = Flask(__name__)


@bare_flask.get("/")
def _root():
    return bare_flask.response_class(BODY, mimetype="application/json")
