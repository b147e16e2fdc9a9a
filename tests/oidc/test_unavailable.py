"""When PostgreSQL or Redis fails, the token and userinfo endpoints answer JSON OAuth errors within
seconds (RFC 6749 §5.2), with Retry-After — never the HTML error page, never a hang."""
import base64
import secrets
import threading

import pytest
from sqlalchemy import text

from idp import create_app
from idp.oidc import clients
from idp.store.redis import RedisStore
from tests.conftest import TEST_DATABASE_URL


def _basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def _assert_json_unavailable(response):
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.json["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def _app(tmp_path, **settings):
    # Its own secrets on the shared test database: the check that instances share them is not the point.
    return create_app({"instance_path": str(tmp_path / "instance"), "keys_path": str(tmp_path / "keys"),
                       "secret_key": secrets.token_urlsafe(32), "TESTING": True, **settings}, check_secrets=False)


def test_redis_down(tmp_path, database_url, app):
    """`app` only for its clean-up of the shared database; this one's store is a closed port."""
    down = _app(tmp_path, database_url=database_url, store=RedisStore.from_url("redis://127.0.0.1:1/0"))
    try:
        with down.extensions["idp"].db.session() as session:
            rp, secret = clients.register_oidc(session, name="Masar", redirect_uris=["https://m.example/cb"],
                                               scopes=["openid"])
            session.commit()
            headers = {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{secret}".encode()).decode()}
        client = down.test_client()
        _assert_json_unavailable(client.post("/oidc/token", data={"grant_type": "authorization_code",
                                                                  "code": "x", "code_verifier": "y" * 43,
                                                                  "redirect_uri": "https://m.example/cb"},
                                             headers=headers))
        _assert_json_unavailable(client.get("/oidc/userinfo", headers={"Authorization": "Bearer x"}))
    finally:
        down.extensions["idp"].db.dispose()


def test_postgresql_unreachable(tmp_path, store):
    down = _app(tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none", store=store)
    response = down.test_client().post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                                       headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()})
    down.extensions["idp"].db.dispose()
    _assert_json_unavailable(response)


@pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"), reason="statement_timeout is PostgreSQL's")
def test_a_stalled_database_gives_a_503_within_seconds(client, rps, services):
    """A table locked by someone else: the statement timeout ends the wait, the client gets JSON."""
    rp = rps.register()
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with services.db.engine.connect() as connection:
            connection.execute(text("SET statement_timeout = 0"))
            connection.execute(text("LOCK TABLE relying_parties IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(30)
            connection.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        response = client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                               headers=_basic(rp))
    finally:
        release.set()
        holder.join(30)
    _assert_json_unavailable(response)
