"""Probes (/livez, /readyz, /healthz), request ids, shedding of password checks, metrics by real status."""
import socket
import threading

import pytest
from sqlalchemy import select

from idp import create_app, probes
from idp.models import AuditEvent
from idp.store.redis import RedisStore
from tests.conftest import STRONG_PASSWORD, csrf_token


@pytest.fixture
def silent_redis():
    """A TCP server that accepts and never answers: a hung Redis, as the client sees one."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def make_app(tmp_path, smtp):
    made = []

    def make(database_url, check_secrets=True, **overrides):
        settings = {"instance_path": str(tmp_path / "instance"), "keys_path": str(tmp_path / "keys"),
                    "database_url": database_url, "smtp_url": smtp.url, "TESTING": True}
        settings.update(overrides)
        made.append(create_app(settings, check_secrets=check_secrets))
        return made[-1]
    yield make
    for app in made:
        app.extensions["idp"].db.dispose()


def test_livez_touches_no_dependency(make_app, store):
    app = make_app("postgresql+psycopg://postgres@127.0.0.1:1/none", store=store)
    response = app.test_client().get("/livez")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_names_every_part(client, signing_keys):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.json == {"status": "ok", "checks": {"database": "ok", "store": "ok", "signing_keys": "ok",
                                                        "secrets": "ok", "draining": "no"}}


def test_readyz_fails_without_a_signing_key(client):
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["signing_keys"] == "down"


def test_readyz_fails_when_the_data_key_cannot_read_stored_secrets(make_app, database_url, store, people,
                                                                   identities, signing_keys, services):
    from cryptography.fernet import Fernet

    identities.make(people["citizen"], totp=True)  # a TOTP secret encrypted with the app's data key
    # Start-up refuses such an instance (idp.shared_secrets); the probe catches one that started
    # before the stored secrets changed under it (a data key rotated elsewhere).
    other = make_app(database_url, store=store, data_key=Fernet.generate_key().decode(),
                     keys_path=services.settings.keys_path, check_secrets=False)
    response = other.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["secrets"] == "down"


def test_readyz_answers_while_redis_hangs(make_app, database_url, migrated_database, silent_redis):
    app = make_app(database_url, store=RedisStore.from_url(silent_redis), probe_timeout_ms=1500)
    response = app.test_client().get("/readyz")  # the store would take its 2 s socket timeout
    assert response.status_code == 503 and response.json["checks"]["store"] == "timeout"


def test_readyz_fails_while_draining(client, signing_keys):
    probes.DRAINING.set()
    try:
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json["checks"]["draining"] == "yes"
        assert client.get("/livez").status_code == 200
    finally:
        probes.DRAINING.clear()
    assert client.get("/healthz").status_code == 200


# --- request ids ---------------------------------------------------------------------------------

def test_a_valid_request_id_is_echoed_and_reaches_the_audit_log(web, client, db):
    response = client.get("/login", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42"
    page = response.get_data(as_text=True)
    client.post("/login", data={"csrf_token": csrf_token(page), "username": "nobody.here",
                                "password": "Wrong-Password-Entirely-42"}, headers={"X-Request-ID": "lb-7f3a.43"})
    event = db.scalars(select(AuditEvent).where(AuditEvent.kind == "sign_in.failed")).one()
    assert event.detail["request_id"] == "lb-7f3a.43"


@pytest.mark.parametrize("given", ["", "a" * 65, "has space", "semi;colon", "<script>", "ünïcode"])
def test_a_bad_request_id_is_replaced(client, given):
    made = client.get("/livez", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert made != given and len(made) == 32 and made.isalnum()


def test_each_request_gets_its_own_id(client):
    assert client.get("/livez").headers["X-Request-ID"] != client.get("/livez").headers["X-Request-ID"]


# --- shedding --------------------------------------------------------------------------------------

@pytest.mark.parametrize("app_overrides", [{"password_checks_per_worker": 1}])
def test_sign_ins_beyond_the_bound_get_503_at_once_and_probes_do_not(app, client, signing_keys, app_overrides):
    gate = app.extensions["idp.password_gate"]
    page = client.get("/login").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "username": "nobody.here", "password": "Wrong-Password-Entirely-42"}
    assert gate.try_enter()  # another thread is hashing a password right now
    try:
        shed = client.post("/login", data=form)
        assert shed.status_code == 503 and shed.headers["Retry-After"] == "2"
        assert "<html" in shed.get_data(as_text=True)
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/oidc/jwks").status_code == 200
        assert client.get("/.well-known/openid-configuration").status_code == 200
    finally:
        gate.leave()
    assert client.post("/login", data=form).status_code == 401  # admitted again once a slot is free
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'idp_sign_ins_total{outcome="shed"}' in metrics
    assert 'idp_shed_requests_total{endpoint="auth.login"}' in metrics


@pytest.mark.parametrize("app_overrides", [{"password_checks_per_worker": 1}])
def test_each_sign_in_gives_its_slot_back(app, web, people, identities, app_overrides):
    identities.make(people["citizen"])
    for n in range(3):  # a leaked slot would shed the next sign-in
        assert web.login(f"nobody.{n}", STRONG_PASSWORD).status_code == 401
    assert web.login("citizen.one", STRONG_PASSWORD).status_code == 302


# --- metrics by the status the client got ---------------------------------------------------------

def test_a_503_from_the_store_is_counted_as_503(make_app, database_url, migrated_database, silent_redis):
    """The sign-in's throttle times out on a hung Redis: the client gets 503, and the metrics say so."""
    from idp.metrics import METRICS
    from tests.conftest import csrf_token

    app = make_app(database_url, store=RedisStore.from_url(silent_redis), TESTING=False)
    client = app.test_client()
    page = client.get("/login")
    before = METRICS.requests.labels("auth.login", "503")._sum.get(), \
        METRICS.requests.labels("auth.login", "200")._sum.get()
    response = client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                           "username": "someone", "password": "whatever-it-is"})
    assert response.status_code == 503
    after = METRICS.requests.labels("auth.login", "503")._sum.get(), \
        METRICS.requests.labels("auth.login", "200")._sum.get()
    assert after[0] > before[0] and after[1] == before[1]


def test_metrics_carry_dependency_and_build_series(client, signing_keys):
    client.get("/readyz")
    text = client.get("/metrics").get_data(as_text=True)
    for series in ("idp_dependency_seconds_bucket", "idp_build_info{", "idp_mail_queue_depth",
                   'idp_request_seconds_count{endpoint="health.readyz",status="200"}'):
        assert series in text, series
