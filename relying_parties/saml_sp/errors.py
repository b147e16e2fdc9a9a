"""One place that turns failures into friendly pages, said in both languages; the detail goes to the log."""
from __future__ import annotations

import logging

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def init_app(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(e):
        log.info("CSRF check failed: %s", e.description)
        return render_template("error.html", reason="csrf"), 400

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code and e.code < 400:
            return e
        if e.code == 500:
            return unexpected(e)
        return render_template("error.html", reason="not_found" if e.code == 404 else None), e.code

    @app.errorhandler(Exception)
    def unexpected(e):
        log.exception("unhandled error", exc_info=getattr(e, "original_exception", None) or e)
        return render_template("error.html"), 500
