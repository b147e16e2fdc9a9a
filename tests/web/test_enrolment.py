"""A second factor before the identity is used (idp.web.enrolment): the last step of registration,
and the step after the password for an identity made before registration asked for one."""
import re

import pyotp
import pytest
from sqlalchemy import select

from idp.models import AuditEvent, Identity, Passkey
from tests.conftest import STRONG_PASSWORD, Web, csrf_token
from tests.identity.softkey import SoftKey
from tests.web.test_registration import CAPTCHA, prove_mobile, step2

ISSUER = "http://localhost"


@pytest.fixture
def app_overrides():
    # A host name (passkeys need one: WebAuthn RP IDs are not IP addresses) and a known captcha.
    return {"TEST_CAPTCHA_ANSWER": CAPTCHA, "issuer": ISSUER}


def key_of(page: str) -> str:
    """The TOTP key as the page shows it, in groups of four."""
    groups = re.findall(r'<span class="key-group">([A-Z2-7]+)</span>', page)
    assert groups and all(len(g) == 4 for g in groups[:-1]), groups
    return "".join(groups)


def set_up_app(web, wrong_first=False):
    """Choose the authenticator app, scan (read the key), enter a code; returns (secret, response)."""
    page = web.get("/two-step/set-up/app").get_data(as_text=True)
    secret = key_of(page)
    assert "otpauth://totp/" in page and "<svg" in page
    if wrong_first:
        refused = web.submit("/two-step/set-up/app", {"otp": "000000"})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "<title>Error:" in html and 'aria-invalid="true"' in html
        assert key_of(html) == secret  # the same key: the app already has it
    return secret, web.submit("/two-step/set-up/app", {"otp": pyotp.TOTP(secret).now()})


def recovery_codes(response) -> list[str]:
    return re.findall(r"<code>([A-Z0-9-]+)</code>", response.get_data(as_text=True))


def english(app):
    browser = Web(app.test_client())
    browser.client.set_cookie("idp_lang", "en")
    return browser


# --- registration ends with the second factor ------------------------------------------------------

def test_registration_ends_with_setting_up_an_authenticator_app(app, people, smtp, db):
    web = english(app)
    prove_mobile(web, app, people["citizen2"])
    response = step2(web)
    assert response.status_code == 302 and response.location.endswith("/two-step/set-up")
    confirm = "/" + smtp.link("noura@example.com", "/register/verify/").split("://", 1)[1].split("/", 1)[1]
    page = web.get("/two-step/set-up").get_data(as_text=True)
    assert "a password alone is not enough" in page                   # the why, in plain words
    assert 'aria-current="step">Two-step verification' in page
    assert "/two-step/set-up/app" in page and "Make a passkey" in page  # both ways offered
    # "Confirm your email" is not reached before the second factor is set up.
    assert web.get("/register/done").location.endswith("/two-step/set-up")
    secret, response = set_up_app(web, wrong_first=True)
    codes = recovery_codes(response)
    assert response.status_code == 200 and len(codes) == 10 and 'href="/register/done"' in \
        response.get_data(as_text=True)
    done = web.get("/register/done").get_data(as_text=True)
    assert "no***@example.com" in done and 'aria-current="step">Confirm your email' in done
    identity = db.scalar(select(Identity).where(Identity.username == "noura.s"))
    assert identity.has_totp and identity.status == "pending"
    assert web.get("/account").status_code == 302                     # registering signs nobody in
    # Once the email is confirmed, signing in asks for the code from the app just set up.
    assert web.submit(confirm, {}).status_code == 200
    response = web.login("noura.s", STRONG_PASSWORD, second_factor=False)
    assert response.location.endswith("/login/verify")
    assert web.submit("/login/verify", {"otp": codes[0]}).status_code == 302


def test_registration_can_end_with_a_passkey_instead(app, people, db):
    web = english(app)
    prove_mobile(web, app, people["citizen2"])
    step2(web)
    page = web.get("/two-step/set-up").get_data(as_text=True)
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    headers = {"X-CSRFToken": csrf, "Origin": ISSUER}
    options = web.client.post("/two-step/set-up/passkey/options", json={}, headers=headers).json
    key = SoftKey("localhost", ISSUER)
    response = web.client.post("/two-step/set-up/passkey", json={"credential": key.create(options), "name": "phone"},
                               headers=headers)
    assert response.status_code == 200 and response.json["redirect"].endswith("/register/done")
    assert "Confirm your email" in web.get("/register/done").get_data(as_text=True)
    identity = db.scalar(select(Identity).where(Identity.username == "noura.s"))
    assert [p.name for p in db.scalars(select(Passkey).where(Passkey.identity_id == identity.id))] == ["phone"]
    assert web.get("/account").status_code == 302


def test_no_passkey_is_offered_on_an_ip_address_issuer(app, people):
    app.extensions["idp"].settings.__dict__["issuer"] = "http://127.0.0.1"
    web = english(app)
    prove_mobile(web, app, people["citizen2"])
    step2(web)
    page = web.get("/two-step/set-up").get_data(as_text=True)
    assert "/two-step/set-up/app" in page and "data-passkey" not in page


def test_the_set_up_pages_need_a_registration_or_a_password_first(web):
    for url in ("/two-step/set-up", "/two-step/set-up/app"):
        assert web.get(url).location.endswith("/login")
    csrf = csrf_token(web.get("/login").get_data(as_text=True))
    response = web.client.post("/two-step/set-up/passkey/options", json={}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 410
    response = web.client.post("/two-step/set-up/passkey", json={"credential": {}}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 410


# --- identities made before: asked at their next sign-in --------------------------------------------

def test_an_identity_without_a_second_factor_sets_one_up_before_it_is_signed_in(app, people, identities, db):
    web = english(app)
    made = identities.make(people["citizen"], totp=False)
    response = web.login(made.username, made.password, next_url="/account")
    assert response.status_code == 302 and response.location.endswith("/two-step/set-up")
    page = web.get("/two-step/set-up").get_data(as_text=True)
    assert "does not have a second step yet" in page and 'class="steps"' not in page
    assert web.get("/account").status_code == 302                     # not signed in by the password alone
    secret, response = set_up_app(web)
    assert response.status_code == 200 and len(recovery_codes(response)) == 10
    page = response.get_data(as_text=True)
    assert 'href="/account"' in page                                   # on to where the sign-in was going
    assert 'href="/logout"' in page                                    # shown signed in
    assert web.get("/account").status_code == 200                     # signed in now
    events = db.scalars(select(AuditEvent.kind).where(AuditEvent.identity_id == made.identity.id)).all()
    assert "mfa.totp_enabled" in events and "sign_in.succeeded" in events
    # The next sign-in asks for the code.
    fresh = english(app)
    assert fresh.login(made.username, made.password, second_factor=False).location.endswith("/login/verify")


def test_the_set_up_step_cannot_be_skipped_to_a_portal(app, people, identities, rps):
    """The portal's request waits behind the set-up; until then no code is issued."""
    from urllib.parse import urlencode

    web = english(app)
    client = rps.register()
    made = identities.make(people["citizen"], totp=False)
    params, _ = rps.authorize_params(client)
    response = web.get("/oidc/authorize?" + urlencode(params))
    next_url = rps.query(response.location)["next"]
    response = web.login(made.username, made.password, next_url=next_url)
    assert response.location.endswith("/two-step/set-up")
    assert web.get(next_url).location.startswith("/login")             # the portal's request still waits
    _, response = set_up_app(web)
    assert f'href="{next_url}"' in response.get_data(as_text=True).replace("&amp;", "&")


def test_a_locked_identity_cannot_set_up(app, people, identities, db):
    web = english(app)
    made = identities.make(people["citizen"], totp=False)
    web.login(made.username, made.password)
    identity = db.get(Identity, made.identity.id)
    identity.status = "locked"
    db.commit()
    assert web.get("/two-step/set-up/app").location.endswith("/login")
