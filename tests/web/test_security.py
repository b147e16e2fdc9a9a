"""Web hardening: CSRF, headers, size limits, and a clear 503 when a backing service is down."""
import pytest
from sqlalchemy import func, select

from idp import create_app
from idp.models import AuditEvent
from idp.store.redis import RedisStore


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_templates_escape_what_people_type(web):
    response = web.submit("/login", {"username": "<script>alert(1)</script>", "password": "x"})
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_a_wrong_csrf_token_is_refused(client, people, db):
    client.get("/login")
    response = client.post("/login", data={"csrf_token": "forged", "username": "a", "password": "b"})
    assert response.status_code == 400
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_missing_csrf_token_is_refused(client):
    assert client.post("/recover", data={"national_id": "1", "email": "a@b.c"}).status_code == 400


def test_request_size_limit(client, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    assert client.post("/login", data={"username": big}).status_code == 413


def test_unknown_page_is_friendly(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "<html" in response.get_data(as_text=True)


def test_store_down_gives_a_clear_503_where_the_store_is_needed(tmp_path, database_url, migrated_database, smtp):
    """Sessions live in the database, so the sign-in and registration pages still open (a captcha
    challenge is sealed, not stored); what needs the store (the throttle behind the password check)
    answers 503 with Retry-After."""
    dead_store = RedisStore.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    app = create_app({"instance_path": str(tmp_path), "database_url": database_url,
                      "smtp_url": smtp.url, "store": dead_store})
    web_client = app.test_client()
    page = web_client.get("/login", headers={"Cookie": "idp_session=abc"})
    assert page.status_code == 200
    from tests.conftest import csrf_token
    response = web_client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                               "username": "someone", "password": "whatever-it-is"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert app.test_client().get("/register").status_code == 200
    app.extensions["idp"].db.dispose()


def test_database_down_gives_a_clear_503_and_writes_nothing(tmp_path, store, smtp):
    """Sessions live in the database: without it no page that keeps a session can answer."""
    app = create_app({"instance_path": str(tmp_path),
                      "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none",
                      "smtp_url": smtp.url, "store": store})
    for cookie in ({}, {"Cookie": "idp_session=" + "a" * 43}):  # a new session, then a known one
        response = app.test_client().get("/login", headers=cookie)
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "<html" in response.get_data(as_text=True)
        assert "idp_session=" not in response.headers.get("Set-Cookie", "")


def test_healthz(client, signing_keys):  # an alias of /readyz (tests/web/test_health.py)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "store": "ok", "signing_keys": "ok", "secrets": "ok",
                                       "draining": "no"}


def test_metrics_count_security_events_for_the_monitoring_network_only(web, client, app, people, identities):
    from idp.metrics import METRICS
    before = METRICS.events.labels("sign_in.failed")._value.get()
    web.login("nobody.here", "Wrong-Password-Entirely-42")
    assert METRICS.events.labels("sign_in.failed")._value.get() == before + 1
    response = client.get("/metrics")                              # the test client is on loopback
    assert response.status_code == 200 and b'idp_security_events_total{kind="sign_in.failed"}' in response.data
    assert b"idp_request_seconds_bucket" in response.data
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404


@pytest.mark.parametrize("header,status", [(None, 404), ("Bearer wrong-token-value", 404),
                                           ("Bearer the-right-metrics-token-0123", 200)])
def test_metrics_with_a_token(tmp_path, database_url, migrated_database, store, smtp, header, status):
    app = create_app({"instance_path": str(tmp_path), "database_url": database_url, "smtp_url": smtp.url,
                      "store": store, "metrics_token": "the-right-metrics-token-0123"})
    headers = {"Authorization": header} if header else {}
    try:
        assert app.test_client().get("/metrics", headers=headers).status_code == status
    finally:
        app.extensions["idp"].db.dispose()  # the scrape read the mail queue's depth


def test_error_pages_are_titled_by_what_happened(client):
    client.set_cookie("idp_lang", "en")
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "<title>Page not found — National Single Sign-On</title>" in html
    client.set_cookie("idp_lang", "ar")
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "<title>الصفحة غير موجودة" in html and "<title>خطأ" not in html
