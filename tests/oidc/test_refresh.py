"""Refresh tokens in the database (RFC 6749 §6, RFC 9700 §4.14): rotation, the retry grace, client
binding, revocation that no store loss undoes, and identity references a restore cannot redirect."""
import base64
import datetime as dt

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import event, exists, select, update
from sqlalchemy.orm import aliased

from idp.models import Identity, RefreshToken, TokenFamily
from idp.oidc import token_families
from idp.oidc.engine import SubjectIdentifiers
from idp.subject_salt import salt_for


@pytest.fixture
def citizen(web, rps, people, identities):
    return identities.make(people["citizen"])


@pytest.fixture
def provider(app):
    return app.extensions["idp.oidc"]


def _basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def refresh(client, rp, token, **extra):
    return client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra},
                       headers=_basic(rp))


def userinfo(client, token):
    return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})


def tokens_for(web, client, rps, rp, made):
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 200, response.json
    return response.json


def live_refresh_tokens(db, family_id) -> int:
    """Tokens of the family that have no successor."""
    db.expire_all()
    successor = aliased(RefreshToken)
    return len(db.scalars(select(RefreshToken).where(
        RefreshToken.family_id == family_id,
        ~exists().where(successor.predecessor_hash == RefreshToken.token_hash))).all())


def family_of(db, value):
    db.expire_all()
    return db.get(RefreshToken, token_families.token_hash(value)).family_id


# --- rotation and the retry grace ---------------------------------------------------------------

def test_a_retry_within_the_grace_gets_a_new_pair_of_the_same_family(web, client, rps, citizen, db):
    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    family = family_of(db, first["refresh_token"])
    lost = refresh(client, rp, first["refresh_token"]).json        # the answer the client never saw
    retried = refresh(client, rp, first["refresh_token"])          # it retries with the same token
    assert retried.status_code == 200, retried.json
    assert retried.json["refresh_token"] not in (first["refresh_token"], lost["refresh_token"])
    assert family_of(db, retried.json["refresh_token"]) == family
    assert live_refresh_tokens(db, family) == 1                    # the lost successor was voided
    assert refresh(client, rp, lost["refresh_token"]).json["error"] == "invalid_grant"
    assert userinfo(client, retried.json["access_token"]).status_code == 200
    assert refresh(client, rp, retried.json["refresh_token"]).status_code == 200


def test_a_retry_after_the_successor_was_used_revokes_the_family(web, client, rps, citizen):
    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    second = refresh(client, rp, first["refresh_token"]).json
    third = refresh(client, rp, second["refresh_token"]).json      # the chain moved on
    replay = refresh(client, rp, first["refresh_token"])
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    assert refresh(client, rp, third["refresh_token"]).status_code == 400
    assert userinfo(client, third["access_token"]).status_code == 401


def test_reuse_after_the_grace_revokes_the_family(web, client, rps, citizen, db, provider):
    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    second = refresh(client, rp, first["refresh_token"]).json
    # The first use was longer ago than the grace allows.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=provider.authz_state.refresh_reuse_grace + 1)
    db.execute(update(RefreshToken)
               .where(RefreshToken.predecessor_hash == token_families.token_hash(first["refresh_token"]))
               .values(issued_at=long_ago))
    db.commit()
    assert refresh(client, rp, first["refresh_token"]).json["error"] == "invalid_grant"
    assert refresh(client, rp, second["refresh_token"]).json["error"] == "invalid_grant"
    db.expire_all()
    assert db.get(TokenFamily, family_of(db, first["refresh_token"])).revoked_at is not None
    # Detected reuse is its own audit event (monitoring alerts on it), naming the client.
    from sqlalchemy import select

    from idp.models import AuditEvent
    reuse = db.scalars(select(AuditEvent).where(AuditEvent.kind == "oidc.refresh_reuse")).all()
    assert [event.detail["client_id"] for event in reuse] == [rp.client_id]


def test_a_retry_from_another_client_is_refused_and_revokes_nothing(web, client, rps, citizen):
    rp, other = rps.register(), rps.register(name="Other")
    first = tokens_for(web, client, rps, rp, citizen)
    second = refresh(client, rp, first["refresh_token"]).json
    assert refresh(client, other, first["refresh_token"]).json["error"] == "invalid_grant"
    assert refresh(client, rp, second["refresh_token"]).status_code == 200


def test_scope_may_narrow_but_not_widen(web, client, rps, citizen):
    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    wider = refresh(client, rp, first["refresh_token"], scope="openid profile email phone")
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"
    narrower = refresh(client, rp, first["refresh_token"], scope="openid email")  # not burnt by the refusal
    assert narrower.status_code == 200
    claims = userinfo(client, narrower.json["access_token"]).json
    assert "email" in claims and not any(claim.startswith("given_name") for claim in claims)


@pytest.mark.parametrize("bad", ["", "x" * 600, "not-a-token"])
def test_unknown_refresh_tokens(client, rps, bad):
    response = refresh(client, rps.register(), bad)
    assert response.status_code == 400 and response.json["error"] in ("invalid_grant", "invalid_request")


def test_an_expired_family(web, client, rps, citizen, db):
    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    db.execute(update(TokenFamily).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.commit()
    assert refresh(client, rp, first["refresh_token"]).json["error"] == "invalid_grant"


# --- what a store loss cannot undo --------------------------------------------------------------

def test_refresh_tokens_and_revocations_outlive_the_store(web, client, rps, citizen, store, db):
    rp = rps.register()
    kept = tokens_for(web, client, rps, rp, citizen)
    revoked = tokens_for(web, client, rps, rp, citizen)
    token_families.revoke_family(db, family_of(db, revoked["refresh_token"]))
    db.commit()
    _empty(store)
    assert refresh(client, rp, kept["refresh_token"]).status_code == 200
    assert refresh(client, rp, revoked["refresh_token"]).json["error"] == "invalid_grant"


def test_a_code_replayed_after_a_store_loss_mints_nothing(web, client, rps, citizen, store):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, citizen)
    assert rps.exchange(client, rp, code, verifier).status_code == 200
    _empty(store)
    again = rps.exchange(client, rp, code, verifier)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"


def _empty(store):
    if hasattr(store, "flush"):
        store.flush()
    else:
        store._data.clear()


# --- identity references ------------------------------------------------------------------------

def test_a_restored_database_never_hands_a_token_to_another_citizen(web, client, rps, citizen, people, db,
                                                                     identities):
    """A restore loses the identity; the next one registered may even get its numeric id back."""
    rp = rps.register()
    tokens = tokens_for(web, client, rps, rp, citizen)
    old = db.get(Identity, citizen.identity.id)
    old_id = old.id
    db.delete(old)
    db.commit()
    # (no second factor: its recovery codes would hold on to the id this test moves)
    other = identities.make(people["resident"], username="someone.else", totp=False)
    db.execute(update(Identity).where(Identity.id == other.identity.id).values(id=old_id))
    db.commit()
    assert refresh(client, rp, tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert userinfo(client, tokens["access_token"]).status_code == 401


def test_sub_is_made_from_the_subject_seed(web, client, rps, citizen, db, services):
    """Identities made before uuids keep their decimal id as seed: their sub does not change."""
    legacy = db.get(Identity, citizen.identity.id)
    legacy.subject_seed = str(legacy.id)
    db.commit()
    rp = rps.register()
    id_token = tokens_for(web, client, rps, rp, citizen)["id_token"]
    claims = jwt.decode(id_token, KeySet.import_key_set(client.get("/oidc/jwks").json)).claims
    expected = SubjectIdentifiers(salt_for(services.settings.subject_salt, "oidc")).create_pairwise_identifier(
        str(legacy.id), "masar.example.gov.sa")
    assert claims["sub"] == expected
    assert legacy.uuid not in claims["sub"]


def test_nothing_maps_a_sub_back_to_a_person_in_the_store(web, client, rps, citizen, store):
    rp = rps.register()
    tokens_for(web, client, rps, rp, citizen)
    if hasattr(store, "client"):
        assert not list(store.client.scan_iter(match=store.prefix + "oidc:sub:*"))
    else:
        assert not [key for key in store._data if key.startswith("oidc:sub:")]


# --- database statements per endpoint -----------------------------------------------------------

class StatementCounter:
    TABLES = ("token_families", "refresh_tokens", "used_marks")

    def __init__(self, engine):
        self.statements = []
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, _conn, _cursor, statement, *_args):
        # The key ring's "did the keys change?" check runs at most every few seconds per process.
        if "signing_keys" not in statement:
            self.statements.append(statement)

    def count(self, action):
        self.statements.clear()
        result = action()
        token_state = [s for s in self.statements if any(t in s for t in self.TABLES)]
        return result, len(self.statements), len(token_state)

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_statements_per_endpoint(web, client, rps, citizen, services, record_property):
    """The token state costs a few indexed statements per request (RFC 9700 needs no more)."""
    rp = rps.register()
    counter = StatementCounter(services.db.engine)
    try:
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, citizen)
        exchanged, total_token, state_token = counter.count(lambda: rps.exchange(client, rp, code, verifier))
        _, total_userinfo, state_userinfo = counter.count(
            lambda: userinfo(client, exchanged.json["access_token"]))
        refreshed, total_refresh, state_refresh = counter.count(
            lambda: refresh(client, rp, exchanged.json["refresh_token"]))
        params, _verifier = rps.authorize_params(rp)     # signed in and consented: straight to a code
        authorized, total_authorize, state_authorize = counter.count(
            lambda: web.get("/oidc/authorize", query_string=params))
    finally:
        counter.close()
    assert refreshed.status_code == 200 and authorized.status_code == 303
    record_property("statements", {"authorize": total_authorize, "token": total_token,
                                   "userinfo": total_userinfo, "refresh": total_refresh})
    # authorize: each client read once per request; the family is one INSERT.
    assert state_authorize == 1 and total_authorize <= 6
    # Client authentication, the state (one read, one write), the audit event.
    assert state_token <= 2 and state_refresh <= 2
    assert total_token <= 4 and total_refresh <= 4
    # userinfo: the client's row, then the identity joined with its live family.
    assert total_userinfo <= 2


def test_two_refreshes_racing_leave_one_live_token_and_the_family_alive(web, client, rps, citizen, db, provider):
    """A client that sends its refresh twice at once (a retry racing the original) is not a thief."""
    import threading

    rp = rps.register()
    first = tokens_for(web, client, rps, rp, citizen)
    family = family_of(db, first["refresh_token"])
    barrier, results, errors = threading.Barrier(2), [], []

    def use():
        barrier.wait()
        try:
            results.append(provider.authz_state.use_refresh_token(first["refresh_token"], client_id=rp.client_id))
        except Exception as e:  # noqa: BLE001 - the assertion below shows it
            errors.append(e)

    racers = [threading.Thread(target=use) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert not errors and len(results) == 2
    assert live_refresh_tokens(db, family) == 1
    db.expire_all()
    assert db.get(TokenFamily, family).revoked_at is None
    live = [new for _access, new in results if refresh(client, rp, new).status_code == 200]
    assert len(live) == 1


def test_identity_claims_are_found_by_uuid_never_by_id(services, citizen):
    from idp.oidc.provider import IdentityClaims

    claims = IdentityClaims(services.db.session)
    assert claims[citizen.identity.uuid]["email"] == citizen.email
    for wrong in (str(citizen.identity.id), citizen.identity.id, "0" * 36, None):
        with pytest.raises(KeyError):
            claims[wrong]
