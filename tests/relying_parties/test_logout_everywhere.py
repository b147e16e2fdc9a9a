"""Issue 11, end to end over real HTTP: a citizen signed in to Masar (OpenID Connect) and to the
example SAML SP (python3-saml) who signs out at the IdP, or whose password is reset, is signed out
of both — Masar by a back-channel logout token, the SAML SP by a signed LogoutRequest through the
browser. Everything runs on loopback; a `requests.Session` plays the citizen's browser."""
from __future__ import annotations

import re
import secrets
import time
from types import SimpleNamespace

import pytest
import requests

from relying_parties.masar.app import create_app as create_masar
from relying_parties.saml_sp.app import create_app as create_saml_sp
from tests import idp_pages, second_factor
from tests.live import free_port, serve
from tests.relying_parties.test_saml_sp import post_form, sp_instance, sp_key_files  # noqa: F401 (fixtures)
from tests.web.test_recovery import NEW_PASSWORD, link_path

ISSUER = f"http://127.0.0.1:{free_port()}"
MASAR = f"http://127.0.0.1:{free_port()}"
SP = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture(autouse=True)
def _deliveries_finish(app):
    """The delivery thread is done before the test's database goes away."""
    yield
    assert app.extensions["idp.logout_delivery"].wait_idle(30)


@pytest.fixture
def portals(app, signing_keys, saml_keys, rps, services, tmp_path, sp_instance):  # noqa: F811
    from idp.saml import sps
    stops = [serve(app, ISSUER)]
    masar_client = rps.register(name="Masar", redirect_uris=[MASAR + "/auth/callback"],
                                post_logout_redirect_uris=[MASAR + "/"],
                                backchannel_logout_uri=MASAR + "/backchannel-logout")
    stops.append(serve(create_masar({
        "MASAR_IDP_ISSUER": ISSUER, "MASAR_CLIENT_ID": masar_client.client_id,
        "MASAR_CLIENT_SECRET": masar_client.secret, "MASAR_BASE_URL": MASAR,
        "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"), "MASAR_SECRET_KEY": secrets.token_urlsafe(32)}), MASAR))
    stops.append(serve(create_saml_sp({
        "SAMLSP_BASE_URL": SP, "SAMLSP_IDP_METADATA_URL": ISSUER + "/saml/metadata",
        "SAMLSP_INSTANCE_PATH": str(tmp_path / "saml_sp"), "SAMLSP_SECRET_KEY": secrets.token_urlsafe(32)}), SP))
    with services.db.session() as session:
        sps.register_saml(session, name="SAML test portal", require_signed_requests=True,
                          metadata_xml=requests.get(SP + "/saml/metadata", timeout=10).text)
        session.commit()
    yield SimpleNamespace(masar_client=masar_client)
    for stop in reversed(stops):
        stop()


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"])


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def sign_in_to_both(browser: requests.Session, made) -> None:
    page = idp_pages.through(browser, browser.get(MASAR + "/login", timeout=10), made, ISSUER)
    assert page.url.startswith(MASAR + "/profile"), page.url
    page = browser.get(SP + "/login", timeout=10)  # already signed in at the IdP: the release notice, once
    form = post_form(idp_pages.through(browser, page, made, ISSUER).text)
    answer = browser.post(form["action"], data={k: form[k] for k in ("SAMLResponse", "RelayState") if k in form},
                          timeout=10)
    assert answer.url.startswith(SP + "/attributes"), answer.url
    assert signed_in(browser, MASAR + "/profile") and signed_in(browser, SP + "/attributes")


def signed_in(browser, url) -> bool:
    return browser.get(url, allow_redirects=False, timeout=10).status_code == 200


def signed_out_of_masar(browser, seconds=10) -> bool:
    deadline = time.time() + seconds
    while signed_in(browser, MASAR + "/profile"):
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def audited(db, kind) -> list:
    from idp.models import AuditEvent
    db.rollback()
    return [e.detail for e in db.query(AuditEvent).filter_by(kind=kind).order_by(AuditEvent.id)]


def test_signing_out_at_the_idp_signs_the_citizen_out_of_both(portals, citizen, db):
    browser = requests.Session()
    sign_in_to_both(browser, citizen)
    page = browser.get(ISSUER + "/logout", timeout=10)
    done = browser.post(ISSUER + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10)
    # the browser went to the SP's SingleLogoutService with a signed LogoutRequest, and came back
    assert [r.url.split("?")[0] for r in done.history if r.url.startswith(SP)] == [SP + "/saml/sls"]
    assert "SigAlg=" in next(r.url for r in done.history if r.url.startswith(SP))
    assert done.status_code == 200 and done.url == ISSUER + "/saml/logout/next"
    assert not signed_in(browser, SP + "/attributes")
    assert signed_out_of_masar(browser)
    assert audited(db, "saml.logout_answered")[-1]["ok"] is True


def test_a_password_reset_elsewhere_signs_the_citizen_out_of_both(portals, citizen, people, smtp, db):
    browser, phone = requests.Session(), requests.Session()
    sign_in_to_both(browser, citizen)
    # the reset, in another browser: Masar is told over the back channel, the SAML SP through that browser
    page = phone.get(ISSUER + "/recover", timeout=10)
    phone.post(ISSUER + "/recover", data={"csrf_token": csrf(page.text), "national_id": people["citizen"].national_id,
                                          "email": citizen.email}, timeout=10)
    link = ISSUER + link_path(smtp, citizen.email)
    page = phone.get(link, timeout=10)
    page = phone.post(link, data={"csrf_token": csrf(page.text)}, timeout=10)  # on to the second factor
    phone.post(ISSUER + "/recover/verify", data={"csrf_token": csrf(page.text), "otp": second_factor.code_for(citizen)},
               timeout=10)
    page = phone.get(ISSUER + "/recover/password", timeout=10)
    done = phone.post(ISSUER + "/recover/password", data={"csrf_token": csrf(page.text), "new_password": NEW_PASSWORD},
                      timeout=10)
    assert done.status_code == 200 and any(r.url.startswith(SP + "/saml/sls") for r in done.history)
    assert not signed_in(browser, SP + "/attributes")  # the SP ended every sign-in of that NameID
    assert signed_out_of_masar(browser)

