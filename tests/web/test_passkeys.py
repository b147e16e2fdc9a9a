"""Passkey pages and endpoints over HTTP (WebAuthn §7.1, §7.2), with a software authenticator."""
import json
import re
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.models import AuditEvent, Identity, Passkey
from tests.identity.softkey import SoftKey

ISSUER = "http://localhost"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}  # a host name: an IP address cannot be a WebAuthn RP ID


def new_key(**kwargs):
    return SoftKey("localhost", ISSUER, **kwargs)


def csrf_of(web, page):
    html = web.get(page).get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


def post_json(web, url, csrf, body=None):
    return web.client.post(url, json=body or {}, headers={"X-CSRFToken": csrf, "Origin": ISSUER})


def add_passkey(web, key, name="my phone"):
    csrf = csrf_of(web, "/account/passkeys")
    options = post_json(web, "/account/passkeys/options", csrf).json
    return post_json(web, "/account/passkeys", csrf, {"credential": key.create(options), "name": name})


def passkey_sign_in(web, key, url="/login/passkey", options_url="/login/passkey/options", page="/login", **kwargs):
    csrf = csrf_of(web, page)
    options = post_json(web, options_url, csrf).json
    assertion = key.get(options, **kwargs)
    return post_json(web, url, csrf, {"credential": assertion}), assertion, csrf


@pytest.fixture
def made(people, identities):
    return identities.make(people["citizen"])


@pytest.fixture
def with_passkey(web, made):
    web.login(made.username, made.password)
    key = new_key()
    assert add_passkey(web, key).status_code == 200
    web.logout()
    return key


@pytest.fixture
def passkey_only(web, made, with_passkey, db):
    """`made` keeps only its passkey: TOTP is turned off, which a passkey allows (one second factor stays)."""
    web.login(made.username, made.password)
    assert web.submit("/account/two-step/off", {}, page="/account/two-step").status_code == 302
    db.expire_all()
    assert not db.get(Identity, made.identity.id).has_totp
    web.logout()
    return with_passkey


def events(db, kind):
    return db.scalars(select(AuditEvent).where(AuditEvent.kind == kind)).all()


def test_the_login_page_offers_passkeys_with_autofill(web):
    html = web.get("/login").get_data(as_text=True)
    assert 'data-passkey="sign-in"' in html and "data-conditional" in html and " hidden>" in html
    assert 'autocomplete="username webauthn"' in html
    assert "passkeys.js" in html and "<script>" not in html


def test_no_passkey_button_for_an_ip_address_issuer(app, web):
    app.extensions["idp"].settings.__dict__["issuer"] = "http://127.0.0.1"  # as the default config
    assert "data-passkey" not in web.get("/login").get_data(as_text=True)


def test_add_a_passkey_and_sign_in_with_it_alone(web, made, db, smtp):
    web.login(made.username, made.password)
    response = add_passkey(web, new_key(), "laptop")
    assert response.status_code == 200 and response.json["redirect"].endswith("/account/passkeys")
    assert "laptop" in web.get("/account/passkeys").get_data(as_text=True)
    assert "Passkeys changed" in smtp.last_to(made.email)["Subject"]
    assert events(db, "passkey.added")


def test_sign_in_with_a_passkey(web, made, with_passkey, db):
    response, _, _ = passkey_sign_in(web, with_passkey)
    assert response.status_code == 200, response.json
    assert web.get("/account").status_code == 200
    with web.client.session_transaction() as session:
        assert session["acr"] == "urn:idp:loa:3" and session["amr"] == ["hwk", "user", "mfa"]
    assert db.scalar(select(Passkey.sign_count)) == 1


def test_a_replayed_assertion_is_refused(web, with_passkey):
    response, assertion, csrf = passkey_sign_in(web, with_passkey)
    assert response.status_code == 200
    web.logout()
    assert post_json(web, "/login/passkey", csrf_of(web, "/login"), {"credential": assertion}).status_code == 401


def test_an_answer_to_another_challenge_is_refused(web, with_passkey):
    csrf = csrf_of(web, "/login")
    first = post_json(web, "/login/passkey/options", csrf).json
    post_json(web, "/login/passkey/options", csrf)  # replaces the first: one live challenge
    response = post_json(web, "/login/passkey", csrf, {"credential": with_passkey.get(first)})
    assert response.status_code == 401 and response.json["error"]
    assert web.get("/account").status_code == 302


@pytest.mark.parametrize("kwargs", [{"origin": "https://evil.example"}, {"uv": False}, {"rp_id": "evil.example"}])
def test_wrong_origin_or_missing_user_verification_is_refused(web, with_passkey, db, kwargs):
    response, _, _ = passkey_sign_in(web, with_passkey, **kwargs)
    assert response.status_code == 401
    assert web.get("/account").status_code == 302
    assert events(db, "sign_in.failed")


def test_a_sign_count_regression_is_refused_and_audited(web, made, with_passkey, db):
    assert passkey_sign_in(web, with_passkey, counter=7)[0].status_code == 200
    web.logout()
    response, _, _ = passkey_sign_in(web, with_passkey, counter=3)
    assert response.status_code == 401
    assert events(db, "passkey.sign_count_regressed")
    web.login(made.username, made.password)  # the citizen sees it in the account's activity
    response, _, _ = passkey_sign_in(web, with_passkey, page="/login/passkey", counter=9)
    assert response.status_code == 200
    assert "رُفض مفتاح مرور: ربما نُسخ" in web.get("/account").get_data(as_text=True)  # Arabic first


@pytest.mark.parametrize("body", [None, {"credential": "x"}, {"credential": {"id": "AA"}}])
def test_malformed_bodies_are_refused(web, with_passkey, body):
    csrf = csrf_of(web, "/login")
    post_json(web, "/login/passkey/options", csrf)
    response = web.client.post("/login/passkey", data=json.dumps(body), content_type="application/json",
                               headers={"X-CSRFToken": csrf})
    assert response.status_code in (400, 401) and "error" in response.json


def test_json_endpoints_need_the_csrf_token(web, with_passkey):
    assert web.client.post("/login/passkey/options").status_code == 400


def test_adding_needs_a_recent_sign_in(web, made):
    web.login(made.username, made.password)
    with web.client.session_transaction() as session:
        session["auth_time"] = 0
    assert "/account/confirm" in web.get("/account/passkeys").location


def test_a_passkey_only_identitys_password_is_not_enough(web, made, passkey_only, people, identities):
    response = web.login(made.username, made.password)
    assert response.status_code == 302 and "/login/passkey" in response.location
    assert web.get("/account").status_code == 302  # not signed in yet
    other = new_key()  # someone else's passkey does not complete this identity's sign-in
    other_made = identities.make(people["citizen2"], username="citizen.two")
    web2 = type(web)(web.client.application.test_client())
    web2.login(other_made.username, other_made.password)
    add_passkey(web2, other)
    assert passkey_sign_in(web, other, page=response.location)[0].status_code == 401
    response = web.login(made.username, made.password)
    response, _, _ = passkey_sign_in(web, passkey_only, page=response.location)
    assert response.status_code == 200
    with web.client.session_transaction() as session:
        assert session["amr"] == ["pwd", "hwk", "user", "mfa"]


def test_manage_rename_remove(web, made, db, people, identities):
    made = identities.make(people["citizen2"], username="citizen.two", totp=True)
    from tests.conftest import current_totp
    web.login(made.username, made.password, otp=current_totp(made.secret))
    add_passkey(web, new_key(), "one")
    passkey_id = db.scalar(select(Passkey.id))
    page = "/account/passkeys"
    assert web.submit(f"/account/passkeys/{passkey_id}/rename", {"name": "work laptop"}, page=page).status_code == 302
    assert "work laptop" in web.get(page).get_data(as_text=True)
    response = web.submit(f"/account/passkeys/{passkey_id}/rename", {"name": "x" * 65}, page=page)
    assert response.status_code == 400
    assert web.submit(f"/account/passkeys/{passkey_id}/remove", {}, page=page).status_code == 302
    db.expire_all()
    assert db.scalar(select(Passkey.id)) is None  # TOTP remains: the passkey may go


def test_the_last_second_factor_is_not_removed(web, made, passkey_only, db):
    response = web.login(made.username, made.password)
    passkey_sign_in(web, passkey_only, page=response.location)
    passkey_id = db.scalar(select(Passkey.id))
    response = web.submit(f"/account/passkeys/{passkey_id}/remove", {}, page="/account")
    assert response.status_code == 400
    db.expire_all()
    assert db.scalar(select(Passkey.id)) == passkey_id


def test_someone_elses_passkey_is_not_found(web, with_passkey, db, people, identities):
    other = identities.make(people["citizen2"], username="citizen.two")
    web.login(other.username, other.password)
    passkey_id = db.scalar(select(Passkey.id))
    response = web.submit(f"/account/passkeys/{passkey_id}/remove", {}, page="/account")
    assert response.status_code == 400
    assert db.scalar(select(Passkey.id)) == passkey_id


# --- OIDC: acr_values=urn:idp:loa:3, a client that requires it --------------------------------

def _authorize(web, rps, client, **extra):
    params, verifier = rps.authorize_params(client, **extra)
    return web.get("/oidc/authorize?" + urlencode(params)), params, verifier


def test_loa3_requested_gets_a_passkey_sign_in_and_lands_in_the_id_token(web, client, rps, made, with_passkey):
    rp = rps.register()
    response, params, verifier = _authorize(web, rps, rp, acr_values="urn:idp:loa:3")
    assert "/login" in response.location
    resume = rps.query(response.location)["next"]
    response, _, _ = passkey_sign_in(web, with_passkey, url="/login/passkey?" + urlencode({"next": resume}))
    assert response.json["redirect"] == resume
    response = web.get(resume)
    if response.status_code == 200:  # consent
        page = response.get_data(as_text=True)
        action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
        response = web.client.post(action, data={"csrf_token": re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1), "decision": "allow"})
    code = rps.query(response.location)["code"]
    tokens = rps.exchange(client, rp, code, verifier).json
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(client.get("/oidc/jwks").json)).claims
    assert claims["acr"] == "urn:idp:loa:3" and claims["amr"] == ["hwk", "user", "mfa"]


def test_loa3_from_a_password_session_asks_for_the_passkey(web, rps, people, identities):
    made = identities.make(people["citizen2"], username="citizen.two", totp=True)
    from tests.conftest import current_totp
    web.login(made.username, made.password, otp=current_totp(made.secret))
    add_passkey(web, new_key())
    rp = rps.register(require_loa3=True)
    response, _, _ = _authorize(web, rps, rp)
    assert "/login/passkey" in response.location


def test_loa3_without_a_passkey_leads_to_adding_one(web, rps, made):
    web.login(made.username, made.password)
    response, _, _ = _authorize(web, rps, rps.register(), acr_values="urn:idp:loa:3")
    assert "/account/passkeys" in response.location


def test_loa3_passive_is_interaction_required(web, rps, made):
    web.login(made.username, made.password)
    response, _, _ = _authorize(web, rps, rps.register(), acr_values="urn:idp:loa:3", prompt="none")
    assert rps.query(response.location)["error"] == "interaction_required"


def test_discovery_advertises_loa3(client):
    assert "urn:idp:loa:3" in client.get("/.well-known/openid-configuration").json["acr_values_supported"]


# --- password recovery: a passkey-only identity proves its passkey ---------------------------

def test_recovery_asks_a_passkey_only_identity_for_its_passkey(web, made, passkey_only, people, smtp):
    from tests.web.test_recovery import NEW_PASSWORD, ask, link_path
    ask(web, people["citizen"].national_id, made.email)
    web.submit(link_path(smtp, made.email), {})
    assert web.get("/recover/password").location.endswith("/recover/verify")
    page = web.get("/recover/verify")
    assert 'data-passkey="sign-in"' in page.get_data(as_text=True)
    stranger = new_key()
    stranger.user_handle = b"z" * 32
    kwargs = dict(url="/recover/passkey", options_url="/recover/passkey/options", page="/recover/verify")
    assert passkey_sign_in(web, stranger, **kwargs)[0].status_code == 401
    assert web.get("/recover/password").location.endswith("/recover/verify")
    response, _, _ = passkey_sign_in(web, passkey_only, **kwargs)
    assert response.status_code == 200 and response.json["redirect"].endswith("/recover/password")
    assert web.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200
