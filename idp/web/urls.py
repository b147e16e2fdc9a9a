"""Where this provider is, as IDP_ISSUER says, never as a request's Host header says.

A link mailed to a citizen built from the Host header goes wherever the sender of the request
chose (password-reset poisoning). So every absolute URL comes from the issuer (`absolute_url`),
requests naming any other host are refused with 400 (Flask's TRUSTED_HOSTS), and the CSRF
check compares Origin and Referer with the issuer's origin (`IssuerCSRFProtect`).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import SecurityError

from idp.settings import Settings, is_loopback_host

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def absolute_url(endpoint: str, **values) -> str:
    """The URL of `endpoint` under the issuer (its scheme, host, port and path prefix)."""
    issuer = urlsplit(current_app.extensions["idp"].settings.issuer)
    adapter = current_app.url_map.bind(issuer.netloc, script_name=issuer.path or "/",
                                       url_scheme=issuer.scheme)
    return adapter.build(endpoint, values, force_external=True)


def trusted_hosts(settings: Settings) -> list[str]:
    """The issuer's host, the extra names an operator listed (IDP_TRUSTED_HOSTS, e.g. for health
    probes), and, for a loopback issuer (development only), every loopback name."""
    issuer_host = urlsplit(settings.issuer).hostname
    hosts = [h for h in (issuer_host, *settings.trusted_host_list) if h]
    if is_loopback_host(issuer_host):
        hosts.extend(LOOPBACK_NAMES)
    return list(dict.fromkeys(hosts))


def init_app(app: Flask, settings: Settings) -> None:
    app.config["TRUSTED_HOSTS"] = trusted_hosts(settings)
    app.config["WTF_CSRF_SSL_STRICT"] = False  # IssuerCSRFProtect checks against the issuer instead
    app.register_error_handler(SecurityError, _untrusted_host)


UNKNOWN_HOST = "طلب غير صالح: اسم الموقع غير معروف.\nBad request: unknown host.\n"


def _untrusted_host(e):
    # Plain text in both languages: with an untrusted host there is no URL adapter to render
    # our templates (their links) with.
    current_app.logger.info("request refused: %s", e.description)
    return UNKNOWN_HOST, 400, {"Content-Type": "text/plain; charset=utf-8"}


class IssuerCSRFProtect(CSRFProtect):
    """Flask-WTF's token check, then (for an https issuer) the check WTF_CSRF_SSL_STRICT makes,
    against the issuer's origin rather than the request's Host: a form posted to us comes from a
    page of ours. Our pages send `Referrer-Policy: same-origin`, so browsers send both headers to us."""

    def protect(self, apply_exemptions=False):
        super().protect(apply_exemptions)
        if not g.get("csrf_valid"):  # exempt, or a safe method: nothing was checked
            return
        settings = current_app.extensions["idp"].settings
        if not settings.is_https:
            return
        expected = _origin_of(settings.issuer)
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            if _origin_of(origin) != expected:
                self._error_response("The origin does not match the issuer.")
            return
        if not request.referrer:
            self._error_response("The referrer header is missing.")
        if _origin_of(request.referrer) != expected:
            self._error_response("The referrer does not match the issuer.")


def _origin_of(url: str) -> str | None:
    """scheme://host[:port], lower-case, the default port left out (RFC 6454 §6.1)."""
    try:
        parts = urlsplit(url)
        default = {"https": 443, "http": 80}.get(parts.scheme)
        port = f":{parts.port}" if parts.port and parts.port != default else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return None
