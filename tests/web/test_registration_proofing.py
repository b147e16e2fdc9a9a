"""Identity proofing at registration (issue 15, finding 3: identity squatting): a code by SMS to
the mobile the civil registry holds, unconfirmed registrations that expire, and taking back an
identity someone else registered."""
import datetime as dt

import pyotp
import pytest
from sqlalchemy import select, update

from idp.models import AuditEvent, Identity
from tests.conftest import STRONG_PASSWORD, Web
from tests.sms_gateway import Gateway, outbox_messages
from tests.web.test_registration import CAPTCHA, count_identities, prove_mobile, sms_code, step1, step2


@pytest.fixture
def app_overrides(request):
    overrides = {"TEST_CAPTCHA_ANSWER": CAPTCHA}
    if request.node.get_closest_marker("sms_gateway"):
        gateway = request.getfixturevalue("sms_gateway")
        overrides.update(sms_gateway_url=gateway.url, sms_gateway_token=gateway.token)
    return overrides


@pytest.fixture(autouse=True)
def english(client):
    """Pages in English here, so that messages can be read by the assertions."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def english_browser(app) -> Web:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return Web(client)


@pytest.fixture
def sms_gateway():
    with Gateway() as gateway:
        yield gateway


def outbox(app):
    return outbox_messages(app.extensions["idp"].settings.sms_outbox_path)


def test_choosing_credentials_needs_the_code_sent_to_the_registry_mobile(web, app, people, db):
    person = people["citizen2"]
    assert step1(web, person).status_code == 200
    assert [m["to"] for m in outbox(app)] == [person.mobile]
    response = web.get("/register/account")
    assert response.status_code == 302 and response.location.endswith("/register/mobile")
    response = web.submit("/register/account", {"username": "squatter", "password": STRONG_PASSWORD,
                                                "email": "s@example.com", "mobile": "0551234567"},
                          page="/register/mobile")
    assert response.status_code == 302 and count_identities(db) == 0


def test_a_wrong_code_is_refused_and_a_code_takes_five_tries_at_most(web, app, people):
    person = people["citizen2"]
    step1(web, person)
    right = sms_code(app, person)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(app.extensions["idp"].settings.sms_code_attempts - 1):
        response = web.submit("/register/mobile", {"code": wrong})
        assert response.status_code == 400 and "not correct" in response.get_data(as_text=True)
    response = web.submit("/register/mobile", {"code": wrong})
    assert "no longer works" in response.get_data(as_text=True)
    response = web.submit("/register/mobile", {"code": right})  # spent: even the right code
    assert response.status_code == 400 and "no longer works" in response.get_data(as_text=True)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "1" * 200])
def test_malformed_codes_get_a_clear_error(web, app, people, code):
    step1(web, people["citizen2"])
    response = web.submit("/register/mobile", {"code": code})
    assert response.status_code == 400 and 'class="field-errors"' in response.get_data(as_text=True)


def test_arabic_indic_digits_in_the_code_are_accepted(web, app, people):
    person = people["citizen2"]
    step1(web, person)
    code = sms_code(app, person).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert web.submit("/register/mobile", {"code": code}).status_code == 302


def test_a_new_code_is_throttled_per_person(web, app, people):
    person = people["citizen2"]
    step1(web, person)
    response = web.submit("/register/mobile/resend", {}, page="/register/mobile")
    assert response.status_code == 429
    assert len(outbox(app)) == 1
    # another browser (an attacker flooding the phone) is limited by the same per-person rule
    other = english_browser(app)
    assert step1(other, person).status_code == 200
    assert len(outbox(app)) == 1


def test_a_person_without_a_registry_mobile_is_told_what_to_do(web, app, people, db):
    response = step1(web, people["resident"])
    assert response.status_code == 403
    assert "no mobile number" in response.get_data(as_text=True)
    assert outbox(app) == []
    assert web.get("/register/account").location.endswith("/register")  # no way round
    assert web.get("/register/mobile").location.endswith("/register")


@pytest.mark.sms_gateway
def test_the_code_goes_through_the_http_gateway(web, app, people, sms_gateway, smtp, db):
    person = people["citizen2"]
    assert step1(web, person).status_code == 200
    request = sms_gateway.received[-1]
    assert request["headers"]["Authorization"] == f"Bearer {sms_gateway.token}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"]["to"] == person.mobile
    assert outbox(app) == []  # nothing in the file outbox when a gateway is configured
    assert web.submit("/register/mobile", {"code": sms_gateway.last_code(person.mobile)}).status_code == 302
    assert step2(web).status_code == 302 and count_identities(db) == 1


@pytest.mark.sms_gateway
def test_a_gateway_failure_is_a_clear_message(web, app, people, sms_gateway):
    sms_gateway.status = 503
    response = step1(web, people["citizen2"])
    assert response.status_code == 200
    assert "could not send the code" in response.get_data(as_text=True)


def test_an_unconfirmed_registration_expires_and_never_blocks(web, app, people, identities, db, smtp):
    person = people["citizen2"]
    squatter = identities.make(person, username="squatter.one", email="squatter@example.com", active=False)
    squatter_uuid = squatter.identity.uuid
    hours = app.extensions["idp"].settings.email_verification_hours
    db.execute(update(Identity).where(Identity.id == squatter.identity.id)
               .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours, minutes=1)))
    db.commit()
    prove_mobile(web, app, person)
    page = web.get("/register/account").get_data(as_text=True)
    assert "already registered" not in page
    assert step2(web).status_code == 302  # on to the second factor
    db.expire_all()
    identity = db.scalar(select(Identity).where(Identity.national_id == person.national_id))
    assert identity.username == "noura.s" and identity.uuid != squatter_uuid
    assert smtp.to("squatter@example.com") == []  # nobody to tell: it was never confirmed
    kinds = db.scalars(select(AuditEvent.kind)).all()
    assert "registration.pending_expired" in kinds and "identity.registered" in kinds


def test_the_citizen_takes_back_an_identity_someone_else_registered(web, app, people, identities, db, smtp):
    person = people["citizen2"]
    squatter = identities.make(person, username="squatter.one", email="squatter@example.com", totp=True)
    squatter_browser = english_browser(app)
    assert squatter_browser.login(squatter.username, squatter.password,
                                  otp=pyotp.TOTP(squatter.secret).now()).status_code == 302
    assert squatter_browser.get("/account").status_code == 200

    prove_mobile(web, app, person)
    page = web.get("/register/account").get_data(as_text=True)
    assert "already registered for you" in page
    assert step2(web, email="noura.real@example.com").status_code == 302

    # the squatter is out: session ended, old password gone, second factor reset, told by mail
    assert squatter_browser.get("/account").status_code == 302
    assert english_browser(app).login(squatter.username, squatter.password).status_code == 401
    db.expire_all()
    identity = db.get(Identity, squatter.identity.id)
    assert identity.username == "noura.s" and identity.email == "noura.real@example.com"
    assert not identity.has_totp and identity.recovery_codes == [] and identity.status == "pending"
    assert "took back the digital identity" in smtp.body(smtp.last_to("squatter@example.com"))
    assert "identity.reclaimed" in db.scalars(select(AuditEvent.kind)
                                             .where(AuditEvent.identity_id == identity.id)).all()

    # the citizen confirms the new address and signs in with the new credentials
    link = smtp.link("noura.real@example.com", "/register/verify/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert web.submit(path, {}).status_code == 200
    assert english_browser(app).login("noura.s", STRONG_PASSWORD).status_code == 302


def test_an_identity_locked_by_an_administrator_is_not_taken_back_online(web, app, people, identities, db):
    person = people["citizen2"]
    made = identities.make(person, username="locked.one")
    made.identity.status = "locked"
    db.commit()
    prove_mobile(web, app, person)
    response = step2(web)
    assert response.status_code == 409 and "Contact support" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Identity, made.identity.id).username == "locked.one"


def test_nothing_says_an_identity_exists_before_the_mobile_is_proven(web, app, people, identities):
    identities.make(people["citizen2"], username="squatter.one")
    with_identity = step1(web, people["citizen2"])
    without = step1(english_browser(app), people["citizen"])
    assert with_identity.status_code == without.status_code == 200
    assert "already" not in with_identity.get_data(as_text=True)


def recovery_link(smtp, address):
    return "/" + smtp.link(address, "/recover/link/").split("://", 1)[1].split("/", 1)[1]


def test_recovery_the_previous_holder_started_dies_with_the_reclaim(web, app, people, identities, smtp):
    person = people["citizen2"]
    identities.make(person, username="squatter.one", email="squatter@example.com")
    unopened, opened = english_browser(app), english_browser(app)
    unopened.submit("/recover", {"national_id": person.national_id, "email": "squatter@example.com"})
    unopened_link = recovery_link(smtp, "squatter@example.com")
    opened.submit("/recover", {"national_id": person.national_id, "email": "squatter@example.com"})
    opened_link = recovery_link(smtp, "squatter@example.com")
    assert opened.submit(opened_link, {}).location.endswith("/recover/verify")  # a grant in its session

    prove_mobile(web, app, person)
    assert step2(web).status_code == 302  # on to the second factor

    for browser_, link in ((unopened, unopened_link), (opened, None)):
        if link:
            browser_.submit(link, {})  # used now: it names an identity that no longer exists
        assert browser_.get("/recover/verify").status_code == 410
        response = browser_.submit("/recover/password", {"new_password": "Another-Long-Pass-2031"}, page="/login")
        assert response.status_code == 410
    assert english_browser(app).login("noura.s", STRONG_PASSWORD).status_code == 403  # pending: the new email is next
