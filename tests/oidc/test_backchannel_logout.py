"""OpenID Connect Back-Channel Logout 1.0: sid in ID tokens, logout tokens to every portal a session
signed in to when it ends, their claims checked with an independent JWT library (joserfc, against
the published JWKS), delivery retried while a portal is down and given up after a bound, each
attempt in the audit log. Portals are small HTTP servers on loopback that record what they get."""
import threading
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.wrappers import Request, Response

from tests.live import free_port, serve

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def app_overrides():
    return {"backchannel_logout_attempts": 3, "backchannel_logout_retry_seconds": 1,
            "backchannel_logout_timeout_seconds": 2}


@pytest.fixture(autouse=True)
def _deliveries_finish(app):
    """The delivery thread is done before the test's database goes away."""
    yield
    assert app.extensions["idp.logout_delivery"].wait_idle(30)


class Portal:
    """A portal's back-channel logout endpoint: records each logout token, answers `status`."""

    def __init__(self):
        self.url = f"http://127.0.0.1:{free_port()}/backchannel-logout"
        self.tokens, self.status, self.stop = [], 200, None
        self.arrived = threading.Event()

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.tokens.append(request.form.get("logout_token"))
        self.arrived.set()
        return Response(status=self.status)(environ, start_response)

    def start(self):
        self.stop = serve(self, self.url)

    def wait(self, count=1, seconds=10):
        deadline = time.time() + seconds
        while len(self.tokens) < count and time.time() < deadline:
            self.arrived.wait(0.1)
        return self.tokens


@pytest.fixture
def portals():
    made = []

    def make(start=True):
        portal = Portal()
        if start:
            portal.start()
        made.append(portal)
        return portal
    yield make
    for portal in made:
        if portal.stop:
            portal.stop()


@pytest.fixture
def citizen(people, identities):
    return identities.make(people["citizen"])


def register(rps, portal, **options):
    return rps.register(name="Portal", backchannel_logout_uri=portal.url, **options)


def id_token_claims(client, token) -> dict:
    return jwt.decode(token, KeySet.import_key_set(client.get("/oidc/jwks").json)).claims


def verified(client, app, rp, token) -> dict:
    """The logout token checked as a portal would (§2.6), with joserfc — not our key ring."""
    decoded = jwt.decode(token, KeySet.import_key_set(client.get("/oidc/jwks").json), algorithms=["RS256", "ES256"])
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert claims["iss"] == app.extensions["idp"].settings.issuer and claims["aud"] == rp.client_id
    assert abs(claims["iat"] - time.time()) < 60 and claims["jti"]
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    return claims


def audit_attempts(db, client_id, count=0, seconds=10):
    """The audited delivery attempts to a portal, once there are `count` of them (or the time is up):
    the portal sees a token just before the attempt's audit event is committed."""
    from idp.models import AuditEvent
    deadline = time.time() + seconds
    while True:
        db.rollback()
        found = [e.detail for e in db.query(AuditEvent).filter_by(kind="oidc.backchannel_logout")
                 .order_by(AuditEvent.id) if e.detail["client_id"] == client_id]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.1)


def test_id_tokens_carry_a_random_sid_that_is_not_the_session_cookie(web, client, rps, citizen, portals):
    rp = register(rps, portals())
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, citizen)
    claims = id_token_claims(client, rps.exchange(client, rp, code, verifier).json["id_token"])
    cookie = client.get_cookie("idp_session").value
    assert len(claims["sid"]) >= 22 and claims["sid"] != cookie and claims["sid"] not in cookie


def test_signing_out_tells_every_portal_the_session_signed_in_to(web, client, app, rps, citizen, portals):
    first, second, not_used = portals(), portals(), portals()
    rp1, rp2 = register(rps, first), register(rps, second, id_token_alg="ES256")
    register(rps, not_used)
    subs, sids = {}, set()
    for rp in (rp1, rp2):
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, citizen)
        claims = id_token_claims(client, rps.exchange(client, rp, code, verifier).json["id_token"])
        subs[rp.client_id] = claims["sub"]
        sids.add(claims["sid"])
    assert len(sids) == 1  # one IdP session
    assert web.logout().status_code == 200
    for portal, rp in ((first, rp1), (second, rp2)):
        [token] = portal.wait()
        claims = verified(client, app, rp, token)
        assert claims["sub"] == subs[rp.client_id] and claims["sid"] in sids
    assert jwt.decode(second.tokens[0], KeySet.import_key_set(client.get("/oidc/jwks").json)).header["alg"] == "ES256"
    time.sleep(0.5)
    assert not_used.tokens == []


def test_a_password_reset_on_another_device_tells_the_portals(web, app, client, rps, citizen, portals, people, smtp):
    from tests import second_factor
    from tests.conftest import Web
    from tests.web.test_recovery import NEW_PASSWORD, ask, link_path
    portal = portals()
    rp = register(rps, portal)
    rps.sign_in_and_authorize(web, rp, citizen)
    other = Web(app.test_client())
    ask(other, people["citizen"].national_id, citizen.email)
    other.submit(link_path(smtp, citizen.email), {})
    assert other.submit("/recover/verify", {"otp": second_factor.code_for(citizen)}).status_code == 302
    assert other.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200
    [token] = portal.wait()
    verified(client, app, rp, token)


def test_sign_out_everywhere_and_an_administrators_lock(web, app, client, rps, citizen, portals, runner, db):
    portal = portals()
    rp = register(rps, portal)
    rps.sign_in_and_authorize(web, rp, citizen)
    result = runner.invoke(args=["idp", "user", "lock", citizen.username])
    assert result.exit_code == 0, result.output
    [token] = portal.wait()
    verified(client, app, rp, token)


def test_withdrawn_consent_tells_that_portal_only(web, app, client, rps, citizen, portals, db):
    from idp.models import RelyingParty
    kept_portal, left_portal = portals(), portals()
    kept, left = register(rps, kept_portal), register(rps, left_portal)
    for rp in (kept, left):
        rps.sign_in_and_authorize(web, rp, citizen)
    rp_id = db.query(RelyingParty).filter_by(client_id=left.client_id).one().id
    web.submit(f"/account/services/{rp_id}/disconnect", {}, page="/account")
    [token] = left_portal.wait()
    verified(client, app, left, token)
    time.sleep(0.5)
    assert kept_portal.tokens == []


def test_delivery_is_retried_while_the_portal_is_down(web, client, app, rps, citizen, portals, db):
    portal = portals(start=False)  # nothing listens yet: connection refused
    rp = register(rps, portal)
    rps.sign_in_and_authorize(web, rp, citizen)
    web.logout()
    assert audit_attempts(db, rp.client_id, 1)
    portal.start()
    [token] = portal.wait()
    verified(client, app, rp, token)
    attempts = audit_attempts(db, rp.client_id, 2)
    assert [a["outcome"] for a in attempts] == ["retry", "delivered"]
    assert attempts[0]["error"] == "ConnectionRefusedError" and attempts[1]["status"] == 200


def test_delivery_is_given_up_after_the_bound(web, rps, citizen, portals, db):
    from idp.models import LogoutDelivery
    portal = portals()
    portal.status = 503
    rp = register(rps, portal)
    rps.sign_in_and_authorize(web, rp, citizen)
    web.logout()
    portal.wait(3)
    attempts = audit_attempts(db, rp.client_id, 3)
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "gave_up"]
    assert {a["status"] for a in attempts} == {503} and [a["attempt"] for a in attempts] == [1, 2, 3]
    time.sleep(1.5)
    assert len(portal.tokens) == 3  # no fourth try
    assert db.query(LogoutDelivery).one().state == "failed"
    # each try is signed afresh with the same jti
    assert len({jwt.decode(t, KeySet.import_key_set(web.get("/oidc/jwks").json)).claims["jti"]
                for t in portal.tokens}) == 1


def test_a_portal_without_a_back_channel_uri_is_not_told(web, rps, citizen, db):
    from idp.models import LogoutDelivery, PortalSignIn
    rp = rps.register(name="Plain portal")
    rps.sign_in_and_authorize(web, rp, citizen)
    web.logout()
    assert db.query(LogoutDelivery).count() == 0
    assert db.query(PortalSignIn).one().ended_at is not None


def test_registration_flags(runner):
    result = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Portal", "--redirect-uri",
                                 "https://p.example.gov.sa/cb", "--backchannel-logout-uri",
                                 "https://p.example.gov.sa/bcl", "--backchannel-logout-session-required",
                                 "--introspection", "--json"])
    assert result.exit_code == 0, result.output
    import json
    shown = json.loads(result.output)
    assert shown["backchannel_logout_uri"] == "https://p.example.gov.sa/bcl"
    assert shown["backchannel_logout_session_required"] is True and shown["introspection"] is True
    bad = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Portal", "--redirect-uri",
                              "https://p.example.gov.sa/cb", "--backchannel-logout-uri", "http://p.example.gov.sa/bcl"])
    assert bad.exit_code != 0 and "back-channel logout URI" in bad.output
    lonely = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Portal", "--redirect-uri",
                                 "https://p.example.gov.sa/cb", "--backchannel-logout-session-required"])
    assert lonely.exit_code != 0


def test_idp_logout_deliver_sends_what_is_due(runner, rps, portals, db, client, app):
    """What a command line (e.g. `idp user lock` on an admin host) queued, cron delivers."""
    import json

    from idp.models import LogoutDelivery
    portal = portals()
    rp = register(rps, portal)
    db.add(LogoutDelivery(client_id=rp.client_id, uri=portal.url, alg="RS256", state="pending", attempts=0,
                          claims={"aud": rp.client_id, "sub": "s", "sid": "x", "jti": "j1", "events": {EVENT: {}}}))
    db.commit()  # queued without a wake, as another process would leave it
    time.sleep(0.3)
    assert portal.tokens == []
    result = runner.invoke(args=["idp", "logout", "deliver", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"attempted": 1, "pending": 0, "failed": 0}
    [token] = portal.tokens
    assert verified(client, app, rp, token)["sid"] == "x"


def test_prune_keeps_what_can_still_be_told(db, runner):
    import datetime as dt
    import json

    from idp.models import LogoutDelivery, PortalSignIn, utcnow
    now = utcnow()
    old, day = now - dt.timedelta(days=8), dt.timedelta(days=1)
    db.add_all([
        PortalSignIn(identity_uuid="u", sid="open", protocol="oidc", client_id="c", sub="s", created_at=now),
        PortalSignIn(identity_uuid="u", sid="ended", protocol="oidc", client_id="c", sub="s", created_at=old,
                     ended_at=now - 2 * day),
        PortalSignIn(identity_uuid="u", sid="stale", protocol="oidc", client_id="c", sub="s", created_at=old),
        LogoutDelivery(client_id="c", uri="https://p.example/bcl", claims={}, alg="RS256", attempts=1,
                       state="delivered", created_at=old),
        LogoutDelivery(client_id="c", uri="https://p.example/bcl", claims={}, alg="RS256", attempts=1,
                       state="pending", created_at=old, next_attempt_at=now + day)])
    db.commit()
    result = runner.invoke(args=["idp", "db", "prune", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["logout_records"] == 3
    db.rollback()
    assert [r.sid for r in db.query(PortalSignIn)] == ["open"]
    assert [d.state for d in db.query(LogoutDelivery)] == ["pending"]


def test_a_delivery_that_cannot_be_signed_is_retried_not_lost(runner, rps, portals, db, services):
    """No active key for the portal's algorithm (say, ES256 retired by mistake): recorded, retried."""
    from idp.models import LogoutDelivery, SigningKey
    portal = portals()
    rp = register(rps, portal)
    db.query(SigningKey).filter_by(alg="ES256").delete()
    db.add(LogoutDelivery(client_id=rp.client_id, uri=portal.url, alg="ES256", state="pending", attempts=0,
                          claims={"aud": rp.client_id, "sub": "s", "sid": "x", "jti": "j2", "events": {EVENT: {}}}))
    db.commit()
    services.keyring.refresh()  # the key ring reads the database again
    assert runner.invoke(args=["idp", "logout", "deliver"]).exit_code == 0
    [attempt] = audit_attempts(db, rp.client_id, 1)
    assert attempt["outcome"] == "retry" and attempt["error"].startswith("signing failed")
    assert portal.tokens == []
