"""The approval app over HTTP (issue 14): enrolment from the account page, the phone's bearer-token
API, number matching confirmed by a WebAuthn assertion (software authenticator), and "Sign in with
the app" ending in a LoA 3 session, for the IdP and for an OIDC request."""
import datetime as dt
import re
from urllib.parse import urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from idp.approval import requests as approval_requests
from idp.models import AppDevice, Approval, AuditEvent
from tests.conftest import csrf_token
from tests.identity.softkey import SoftKey

ISSUER = "http://localhost"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}  # a host name: an IP address cannot be a WebAuthn RP ID


class Phone:
    """The citizen's phone: its own browser (cookie jar) and its own authenticator."""

    def __init__(self, app, synced=False):
        self.client = app.test_client()
        self.key = SoftKey("localhost", ISSUER, synced=synced)
        self.token = None

    def enrol(self, link, name="هاتفي"):
        page = self.client.get(urlsplit(link).path)
        assert page.status_code == 200, page.status_code
        csrf = re.search(r'data-csrf="([^"]+)"', page.get_data(as_text=True)).group(1)
        headers = {"X-CSRFToken": csrf, "Origin": ISSUER}
        link_token = urlsplit(link).path.rsplit("/", 1)[1]
        options = self.client.post("/app/api/enrol/options", json={"link": link_token}, headers=headers)
        assert options.status_code == 200, options.json
        answer = self.client.post("/app/api/enrol", headers=headers, json={
            "link": link_token, "credential": self.key.create(options.json), "name": name})
        if answer.status_code == 200:
            self.token = answer.json["token"]
        return answer

    def api(self, method, url, body=None, token=None):
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.client.open(url, method=method, json=body, headers=headers)

    def pending(self):
        return self.api("GET", "/app/api/pending")

    def pick(self, request_id, number, **kwargs):
        base = f"/app/api/requests/{request_id}"
        options = self.api("POST", base + "/options", {"number": number})
        assert options.status_code == 200, options.json
        return self.api("POST", base + "/approve", {"number": number, "credential": self.key.get(options.json, **kwargs)})


def enrolment_link(web, made):
    if made is not None:
        web.login(made.username, made.password)
    page = web.submit("/account/app/link", {}, page="/account/app")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html  # the QR code
    return re.search(r'data-enrolment-link>.*?<bdi dir="ltr">([^<]+)</bdi>', html, re.S).group(1)


@pytest.fixture
def made(people, identities):
    return identities.make(people["citizen"])


@pytest.fixture
def phone(app, web, made):
    phone = Phone(app)
    assert phone.enrol(enrolment_link(web, made)).status_code == 200
    web.logout()
    return phone


def start_sign_in(web, login, next_url=None):
    url = "/login/app" + (f"?{urlencode({'next': next_url})}" if next_url else "")
    response = web.submit(url, {"username": login})
    assert response.status_code == 302 and response.location.endswith("/login/app/wait")
    page = web.get("/login/app/wait").get_data(as_text=True)
    return re.search(r"data-binding-number>(\d+)<", page).group(1)


def status(web):
    return web.get("/login/app/status").json["status"]


def finish(web):
    page = web.get("/login/app/wait").get_data(as_text=True)
    return web.client.post("/login/app/continue", data={"csrf_token": csrf_token(page)})


def events(db, kind):
    return db.scalars(select(AuditEvent).where(AuditEvent.kind == kind)).all()


# --- enrolment --------------------------------------------------------------------------------

def test_the_account_page_needs_a_recent_sign_in(web, made):
    web.login(made.username, made.password)
    with web.client.session_transaction() as session:
        session["auth_time"] = 0
    assert "/account/confirm" in web.get("/account/app").location


def test_enrolment_by_the_qr_link(app, web, made, db):
    link = enrolment_link(web, made)
    assert link.startswith(ISSUER + "/app/enrol/")
    phone = Phone(app)
    answer = phone.enrol(link)
    assert answer.status_code == 200 and answer.json["name"] == "هاتفي" and len(phone.token) >= 43
    assert answer.headers["Cache-Control"] == "no-store"
    assert "هاتفي" in web.get("/account/app").get_data(as_text=True)
    assert len(events(db, "app.enrolled")) == 1
    assert phone.client.get(urlsplit(link).path).status_code == 410  # the link worked once
    assert Phone(app).client.post("/app/api/enrol/options", json={"link": urlsplit(link).path.rsplit("/", 1)[1]},
                                  headers={"X-CSRFToken": "x"}).status_code == 400  # no CSRF token of ours


@pytest.mark.parametrize("link", ["nope", "x" * 300])
def test_an_unknown_enrolment_link(app, link):
    assert app.test_client().get(f"/app/enrol/{link}").status_code == 410


def test_enrolment_without_user_verification_is_refused(app, web, made, db):
    phone = Phone(app)
    phone.key.create = (lambda create: lambda options: create(options, uv=False))(phone.key.create)
    answer = phone.enrol(enrolment_link(web, made))
    assert answer.status_code == 400 and answer.json["error"]
    assert db.query(AppDevice).count() == 0


def test_removing_the_phone_ends_its_access(web, made, phone, db):
    web.login(made.username, made.password)
    device = db.scalar(select(AppDevice))
    web.submit(f"/account/app/{device.id}/remove", {}, page="/account/app")
    assert phone.pending().status_code == 401


# --- the phone's API ----------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_the_api_needs_the_phones_token(app, header):
    client = app.test_client()
    response = client.get("/app/api/pending", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.headers["Cache-Control"] == "no-store"


def test_unknown_tokens_are_rate_limited_per_address(app):
    client = app.test_client()
    codes = [client.get("/app/api/pending", headers={"Authorization": "Bearer nope"}).status_code
             for _ in range(25)]
    assert codes[0] == 401 and codes[-1] == 429


def test_nothing_pending(phone):
    assert phone.pending().json == {"request": None}


def test_the_phone_sees_the_request_and_approves_the_right_number(web, made, phone, db):
    number = start_sign_in(web, made.username)
    shown = phone.pending().json["request"]
    assert number in shown["choices"] and len(set(shown["choices"])) == 3
    assert shown["portal_en"] == "National Single Sign-On" and shown["place"] is None
    assert re.fullmatch(r"\d\d:\d\d", shown["time"]) and 0 < shown["expires_in"] <= 120
    assert status(web) == "pending"
    assert phone.pick(shown["id"], number).json == {"status": "approved"}
    assert status(web) == "approved"
    response = finish(web)
    assert response.status_code == 302
    with web.client.session_transaction() as session:
        assert session["acr"] == "urn:idp:loa:3" and session["amr"] == ["hwk", "user", "mfa"]
    assert len(events(db, "approval.approved")) == 1 and len(events(db, "sign_in.succeeded")) == 2
    assert finish(web).status_code == 400  # signed in once: the wait is over, nothing more to redeem
    assert len(events(db, "sign_in.succeeded")) == 2


def test_a_wrong_number_refuses_and_is_audited(web, made, phone, db):
    number = start_sign_in(web, made.username)
    shown = phone.pending().json["request"]
    wrong = next(c for c in shown["choices"] if c != number)
    answer = phone.pick(shown["id"], wrong)
    assert answer.status_code == 409 and answer.json["status"] == "denied"
    assert len(events(db, "approval.wrong_number")) == 1
    assert status(web) == "refused"
    assert "Sign-in refused" in web.get("/login/app/wait", headers={"Accept-Language": "en"}).get_data(as_text=True)
    with web.client.session_transaction() as session:
        assert "identity_uuid" not in session
    assert phone.api("POST", f"/app/api/requests/{shown['id']}/options", {"number": number}).status_code == 409


def test_this_was_not_me(web, made, phone, db):
    start_sign_in(web, made.username)
    shown = phone.pending().json["request"]
    assert phone.api("POST", f"/app/api/requests/{shown['id']}/deny").json == {"status": "denied"}
    assert status(web) == "refused" and len(events(db, "approval.denied")) == 1


def test_an_expired_request(web, made, phone, db):
    number = start_sign_in(web, made.username)
    shown = phone.pending().json["request"]
    db.execute(update(Approval).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.commit()
    assert status(web) == "expired" and phone.pending().json == {"request": None}
    assert phone.api("POST", f"/app/api/requests/{shown['id']}/options", {"number": number}).status_code == 409
    assert "The request has expired" in web.get("/login/app/wait", headers={"Accept-Language": "en"}).get_data(
        as_text=True)


def test_an_approval_is_not_someone_elses_sign_in(app, web, made, phone, db):
    """The request id lives in the starting browser's session: another browser has nothing to redeem."""
    number = start_sign_in(web, made.username)
    phone.pick(phone.pending().json["request"]["id"], number)
    other = app.test_client()
    page = other.get("/login/app").get_data(as_text=True)
    assert other.post("/login/app/continue", data={"csrf_token": csrf_token(page)}).status_code == 400
    assert other.get("/login/app/status").json == {"status": "expired"}


@pytest.mark.parametrize("body", [{}, {"number": "100"}, {"number": 42}, {"number": None}])
def test_a_number_not_offered(web, made, phone, body):
    start_sign_in(web, made.username)
    request_id = phone.pending().json["request"]["id"]
    assert phone.api("POST", f"/app/api/requests/{request_id}/options", body).status_code == 400


@pytest.mark.parametrize("credential", [None, "x", {"id": "x"}])
def test_a_bad_assertion(web, made, phone, db, credential):
    number = start_sign_in(web, made.username)
    request_id = phone.pending().json["request"]["id"]
    answer = phone.api("POST", f"/app/api/requests/{request_id}/approve", {"number": number, "credential": credential})
    assert answer.status_code in (400, 401) and answer.json["error"]
    assert status(web) == "pending"


def test_an_assertion_without_user_verification_approves_nothing(web, made, phone, db):
    number = start_sign_in(web, made.username)
    answer = phone.pick(phone.pending().json["request"]["id"], number, uv=False)
    assert answer.status_code == 401 and status(web) == "pending"
    assert len(events(db, "approval.assertion_refused")) == 1


# --- "Sign in with the app": never tells who has an account -----------------------------------

@pytest.mark.parametrize("login", ["nobody.here", "1000000000"])
def test_an_unknown_name_waits_like_any_other(web, db, login):
    number = start_sign_in(web, login)
    assert 10 <= int(number) <= 99 and status(web) == "pending"
    assert db.query(Approval).count() == 0


def test_a_name_without_a_phone_waits_like_any_other(web, made, db):
    start_sign_in(web, made.username)
    assert status(web) == "pending" and db.query(Approval).count() == 0


@pytest.mark.parametrize("login", ["citizen.one", "nobody.here"])
def test_a_stranger_is_rate_limited_per_name_whether_or_not_it_exists(app, web, made, phone, login):
    stranger = type(web)(app.test_client())
    for _ in range(approval_requests.MAX_STARTS):
        start_sign_in(stranger, login)
    response = stranger.submit("/login/app", {"username": login})
    assert response.status_code == 429


def test_a_newer_sign_in_supersedes_but_the_older_page_just_waits(app, web, made, phone):
    start_sign_in(web, made.username)
    other = type(web)(app.test_client())
    start_sign_in(other, made.username)
    assert status(web) == "pending" and status(other) == "pending"


def test_the_login_page_offers_the_app(web):
    html = web.get("/login").get_data(as_text=True)
    assert 'href="/login/app' in html


def test_no_app_for_an_ip_address_issuer(app, web):
    app.extensions["idp"].settings.__dict__["issuer"] = "http://127.0.0.1"
    assert "/login/app" not in web.get("/login").get_data(as_text=True)
    assert web.get("/login/app").status_code == 404 and web.get("/app/").status_code == 404


def test_a_locked_identity_is_not_signed_in(web, made, phone, db):
    number = start_sign_in(web, made.username)
    phone.pick(phone.pending().json["request"]["id"], number)
    made.identity.status = "locked"
    db.merge(made.identity)
    db.commit()
    assert finish(web).status_code == 409
    with web.client.session_transaction() as session:
        assert "identity_uuid" not in session


# --- the installable shell ------------------------------------------------------------------------

def test_the_shell_manifest_and_worker(client):
    shell = client.get("/app/")
    html = shell.get_data(as_text=True)
    assert shell.status_code == 200 and 'rel="manifest"' in html and "app.js" in html and "<script>" not in html
    assert "manifest-src 'self'" in shell.headers["Content-Security-Policy"]
    assert 'lang="ar" dir="rtl"' in html
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert (manifest.json["scope"], manifest.json["start_url"], manifest.json["dir"]) == ("/app/", "/app/", "rtl")
    worker = client.get("/app/sw.js")
    script = worker.get_data(as_text=True)
    worker.close()
    assert worker.mimetype == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    assert 'SHELL = ["/app/", "/static/style.css", "/static/webauthn-json.js", "/static/app.js", ' \
        '"/static/app-icon.svg"]' in script


def test_the_shell_in_english(client):
    html = client.get("/app/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en" dir="ltr"' in html and "Approve sign-ins" in html


# --- OIDC: a LoA 3 request from an identity whose LoA 3 key is the app ---------------------------

def test_an_oidc_loa3_request_is_answered_through_the_app(web, client, rps, made, phone):
    rp = rps.register()
    params, verifier = rps.authorize_params(rp, acr_values="urn:idp:loa:3")
    response = web.get("/oidc/authorize?" + urlencode(params))
    resume = rps.query(response.location)["next"]
    assert 'href="/login/app?next=' in web.get(response.location).get_data(as_text=True)
    number = start_sign_in(web, made.identity.national_id, next_url=resume)
    shown = phone.pending().json["request"]
    assert shown["portal_en"] == shown["portal_ar"] != "National Single Sign-On"  # the portal's registered name
    phone.pick(shown["id"], number)
    response = finish(web)
    assert response.location == resume
    response = web.get(resume)
    if response.status_code == 200:  # consent
        page = response.get_data(as_text=True)
        action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
        response = web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "allow"})
    tokens = rps.exchange(client, rp, rps.query(response.location)["code"], verifier).json
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(client.get("/oidc/jwks").json)).claims
    assert claims["acr"] == "urn:idp:loa:3" and claims["amr"] == ["hwk", "user", "mfa"]


def test_a_signed_in_password_session_steps_up_through_the_app(web, rps, made, phone):
    web.login(made.username, made.password)
    params, _ = rps.authorize_params(rps.register(), acr_values="urn:idp:loa:3")
    response = web.get("/oidc/authorize?" + urlencode(params))
    assert "/login/app" in response.location
    page = web.get(response.location).get_data(as_text=True)
    assert f'value="{made.username}"' in page  # the signed-in identity, typed for the citizen


def test_the_citizens_own_browser_is_not_locked_out_by_strangers(app, web, made, phone, db):
    """Strangers exhaust the name's and the identity's limits; the browser that signed in as the
    citizen before (a known device) still reaches the phone."""
    web.login(made.username, made.password)
    web.logout()
    stranger = type(web)(app.test_client())
    for _ in range(approval_requests.MAX_STARTS):
        start_sign_in(stranger, made.username)
    assert stranger.submit("/login/app", {"username": made.username}).status_code == 429
    number = start_sign_in(web, made.username)
    assert number in phone.pending().json["request"]["choices"]
