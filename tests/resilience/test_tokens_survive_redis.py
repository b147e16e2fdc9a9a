"""Redis restarted empty mid-scenario (issue 8): every refresh token still works, every revoked
family stays revoked, and a spent TOTP code stays spent — that state is in the database.

The test runs on a `redis-server` of its own (no persistence, tests/resilience/conftest.py)."""
from __future__ import annotations

import base64
import re
import secrets
import time

import pyotp
import pytest

from idp import create_app
from idp.identity import totp
from idp.models import Base
from tests.conftest import Identities, RelyingPartyHelper, Web, csrf_token


# `redis_server`: the resilience suite's own redis-server (tests/resilience/conftest.py).
@pytest.fixture
def redis_app(tmp_path, migrated_database, database_url, smtp, redis_server):
    app = create_app({"instance_path": str(tmp_path / "instance"), "keys_path": str(tmp_path / "keys"),
                      "database_url": database_url, "smtp_url": smtp.url, "redis_url": redis_server.url,
                      "secret_key": secrets.token_urlsafe(32), "TESTING": True},
                     check_secrets=False)  # beside the `app` fixture's, with secrets of its own
    yield app
    database = app.extensions["idp"].db
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    database.dispose()


def _basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def test_refresh_tokens_revocations_and_spent_codes_survive_a_redis_restart(redis_app, redis_server, people):
    services = redis_app.extensions["idp"]
    services.keyring.generate("RS256")
    client = redis_app.test_client()
    web, rps = Web(client), RelyingPartyHelper(redis_app, services)
    with services.db.session() as db:
        made = Identities(services, db).make(people["citizen"], totp=True)
        identity_uuid = made.identity.uuid
    rp = rps.register()

    # Three sign-ins' worth of tokens; the first sign-in spends a TOTP code.
    signed_in_at = time.time()
    spent_code = pyotp.TOTP(made.secret).at(signed_in_at)
    kept = []
    for _ in range(3):
        params, verifier = rps.authorize_params(rp)
        response = web.get("/oidc/authorize", query_string=params)
        if "/login" in response.headers.get("Location", ""):
            next_url = rps.query(response.location)["next"]
            response = web.get(web.login(made.username, made.password, otp=spent_code,
                                         next_url=next_url).location)
        if response.status_code == 200:  # consent, the first time
            page = response.get_data(as_text=True)
            action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
            response = client.post(action, data={"csrf_token": csrf_token(page), "decision": "allow"})
        code = rps.query(response.location)["code"]
        tokens = rps.exchange(client, rp, code, verifier)
        assert tokens.status_code == 200, tokens.json
        kept.append(tokens.json["refresh_token"])
    # A fourth sign-in whose code is replayed: its family is revoked (RFC 6749 §4.1.2).
    params, verifier = rps.authorize_params(rp)
    code = rps.query(web.get("/oidc/authorize", query_string=params).location)["code"]
    revoked = rps.exchange(client, rp, code, verifier).json["refresh_token"]
    assert rps.exchange(client, rp, code, verifier).status_code == 400

    redis_server.restart_empty()
    assert services.store.get("anything") is None  # the new, empty Redis answers

    survived = 0
    for token in kept:
        response = client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": token},
                               headers=_basic(rp))
        assert response.status_code == 200, response.json
        assert client.get("/oidc/userinfo", headers={
            "Authorization": f"Bearer {response.json['access_token']}"}).status_code == 200
        survived += 1
    assert survived == len(kept) == 3
    refused = client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": revoked},
                          headers=_basic(rp))
    assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"

    # The spent TOTP step is still spent: at the moment it was used ...
    with services.db.session() as db:
        assert not totp.verify_totp(db, identity_uuid, made.secret, spent_code, now=signed_in_at)
    # ... and through the sign-in page, while the code is still inside its window.
    if totp._matching_step(made.secret, spent_code, time.time()) is not None:
        again = Web(redis_app.test_client())
        response = again.login(made.username, made.password, otp=spent_code)
        assert response.status_code == 401
