"""Registration against the civil registry as a service (IDP_REGISTRY=http): a real registry over
mutual TLS on a loopback port, the local registry_people table empty throughout. When the registry
cannot be reached: a clear 503 page, nothing written but the audit event."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from idp import attributes
from idp.identity.registry import Person
from idp.models import AuditEvent, Identity, RegistryPerson
from tests.conftest import STRONG_PASSWORD, csrf_token, make_national_id
from tests.registry_service import person_json
from tests.web.test_registration import CAPTCHA, sms_code, step1, step2
from tests.web.test_enrolment import recovery_codes, set_up_app

SARA = Person(national_id=make_national_id("1", 8001), birth_date=dt.date(1992, 4, 9), gender="F",
              name_ar="سارة فهد الشمري", name_en="Sarah Fahad Alshammari", nationality="SAU",
              mobile="+966500008001")
UNAVAILABLE = "The civil registry cannot be reached right now"


@pytest.fixture
def app_overrides(registry_service, registry_certificates):
    registry_service.people[SARA.national_id] = person_json(SARA)
    return {"TEST_CAPTCHA_ANSWER": CAPTCHA, "default_locale": "en", "registry": "http",
            "registry_url": registry_service.url,
            "registry_client_cert": str(registry_certificates.client_cert),
            "registry_client_key": str(registry_certificates.client_key),
            "registry_ca": str(registry_certificates.ca), "registry_timeout_seconds": 1,
            "registry_cache_seconds": 60}


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def unavailable_events(db) -> list:
    return db.scalars(select(AuditEvent).where(AuditEvent.kind == "registration.registry_unavailable")).all()


def test_registration_end_to_end_against_the_registry_service(web, app, db, smtp, registry_service):
    assert count(db, RegistryPerson) == 0
    response = step1(web, SARA)
    assert response.status_code == 200 and "+9665•••••001" in response.get_data(as_text=True)
    assert web.submit("/register/mobile", {"code": sms_code(app, SARA)}).location.endswith("/register/account")
    page = web.get("/register/account").get_data(as_text=True)
    assert f"Welcome, {SARA.name_en}." in page  # from the registry's answer
    response = step2(web, username="sara.f", email="sara@example.com")
    assert response.status_code == 302 and response.location.endswith("/two-step/set-up")  # the last step
    # One registration, one question: every later step was answered from the short cache.
    assert registry_service.requests == 1
    identity = db.scalar(select(Identity).where(Identity.national_id == SARA.national_id))
    assert (identity.name_ar, identity.name_en, identity.birth_date, identity.gender, identity.nationality) == \
        (SARA.name_ar, SARA.name_en, SARA.birth_date, SARA.gender, SARA.nationality)
    assert identity.registry_mobile == SARA.mobile and identity.registry_checked_at is not None
    link = smtp.link("sara@example.com", "/register/verify/")
    assert web.submit("/" + link.split("://", 1)[1].split("/", 1)[1], {}).status_code == 200
    # The second factor was not set up here (tests/web/test_enrolment.py does): set up at the sign-in.
    assert web.login("sara.f", STRONG_PASSWORD).location.endswith("/two-step/set-up")
    _secret, response = set_up_app(web)
    assert response.status_code == 200 and recovery_codes(response)
    account = web.get("/account").get_data(as_text=True)
    assert SARA.name_en in account and SARA.name_ar in account
    assert attributes.values(identity)["birth_date"] == "1992-04-09"
    assert count(db, RegistryPerson) == 0


def test_a_mismatch_is_the_one_generic_message(web, db, registry_service):
    for changes in ({"gender": "M"}, {"birth_date": "10/04/1992"},
                    {"national_id": make_national_id("1", 8002)}):
        response = step1(web, SARA, **changes)
        assert response.status_code == 400
        assert "These details do not match the civil registry" in response.get_data(as_text=True)
    assert count(db, Identity) == 0


def test_a_registry_that_hangs_gets_the_friendly_503_and_nothing_is_kept(web, db, registry_service):
    registry_service.hold = True
    response = step1(web, SARA)
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    page = response.get_data(as_text=True)
    assert UNAVAILABLE in page and "try again in a few minutes" in page
    with web.client.session_transaction() as browser_session:
        assert "registration" not in browser_session  # the wizard did not move on
    assert count(db, Identity) == 0
    assert [e.detail["reason"] for e in unavailable_events(db)] == ["timed out"]
    assert SARA.national_id not in str(unavailable_events(db)[0].detail)


def test_the_page_is_translated(web, registry_service):
    registry_service.status = 500
    web.client.set_cookie("idp_lang", "ar")
    response = step1(web, SARA)
    assert response.status_code == 503
    assert "لا يمكن الوصول إلى السجل المدني الآن" in response.get_data(as_text=True)


@pytest.mark.parametrize("misbehave", [{"status": 500}, {"body": b"<html>down for maintenance</html>"},
                                       {"body": b'{"national_id": "1"}'}])
def test_errors_and_garbage_from_the_registry_get_the_503(web, db, registry_service, misbehave):
    for name, value in misbehave.items():
        setattr(registry_service, name, value)
    response = step1(web, SARA)
    assert response.status_code == 503 and UNAVAILABLE in response.get_data(as_text=True)
    assert count(db, Identity) == 0 and len(unavailable_events(db)) == 1


def test_the_registry_failing_at_the_last_step_writes_no_identity(web, app, db, registry_service):
    assert step1(web, SARA).status_code == 200
    assert web.submit("/register/mobile", {"code": sms_code(app, SARA)}).status_code == 302
    app.extensions["idp"].registry.cache.seconds = 0  # as if the answer had expired meanwhile
    app.extensions["idp"].registry.cache._items.clear()
    form = web.get("/register/account").get_data(as_text=True)  # the form, while the registry still answers
    registry_service.hold = True
    response = web.client.post("/register/account", data={
        "csrf_token": csrf_token(form), "username": "sara.f", "password": STRONG_PASSWORD,
        "email": "sara@example.com", "mobile": "0551234567"})
    assert response.status_code == 503 and UNAVAILABLE in response.get_data(as_text=True)
    assert count(db, Identity) == 0
    registry_service.release()
    registry_service.hold = False
    response = step2(web, username="sara.f", email="sara@example.com")  # the wizard resumes
    assert response.status_code == 302 and response.location.endswith("/two-step/set-up")
    assert count(db, Identity) == 1


# --- the CLI --------------------------------------------------------------------------------------

def test_the_cli_says_one_line_and_fails(runner, registry_service):
    registry_service.hold = True
    result = runner.invoke(args=["idp", "registry", "show", SARA.national_id])
    assert result.exit_code != 0
    assert result.output.strip() == "error: the civil registry cannot be reached: timed out"


def test_the_cli_shows_a_person_from_the_service(runner, registry_service):
    result = runner.invoke(args=["idp", "registry", "show", SARA.national_id, "--json"])
    assert result.exit_code == 0 and SARA.name_en in result.output


def test_the_cli_does_not_import_into_a_table_nobody_reads(runner, tmp_path):
    export = tmp_path / "people.csv"
    export.write_text("national_id,birth_date,gender,name_ar,name_en,nationality\n")
    result = runner.invoke(args=["idp", "registry", "import", str(export)])
    assert result.exit_code != 0 and "IDP_REGISTRY is http" in result.output


def test_an_admin_creates_an_identity_from_the_service(runner, db):
    result = runner.invoke(args=["idp", "user", "create", "--national-id", SARA.national_id, "--birth-date",
                                 "1992-04-09", "--username", "sara.admin", "--email", "sara@example.com", "--json"])
    assert result.exit_code == 0, result.output
    identity = db.scalar(select(Identity).where(Identity.username == "sara.admin"))
    assert identity.name_en == SARA.name_en and identity.registry_mobile is None  # no SMS proved it


def test_a_mobile_the_registry_changed_meanwhile_starts_the_wizard_again(web, app, db, registry_service):
    assert step1(web, SARA).status_code == 200
    assert web.submit("/register/mobile", {"code": sms_code(app, SARA)}).status_code == 302
    registry_service.people[SARA.national_id]["mobile"] = "+966500008999"  # the code went to the old one
    app.extensions["idp"].registry.cache._items.clear()
    for step in ("/register/account", "/register/mobile"):
        response = web.get(step)
        assert response.status_code == 302 and response.location.endswith("/register"), step
    assert count(db, Identity) == 0
