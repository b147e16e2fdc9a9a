"""Sign-in: password, then TOTP; one answer for every failure; throttling; sessions."""
import pyotp
import pytest
from sqlalchemy import select

from idp.models import AuditEvent
from tests.conftest import STRONG_PASSWORD


def test_login_form_has_the_expected_fields(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<form method="post"' in html
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="csrf_token"' in html


def test_password_sign_in_without_second_factor(web, people, identities, db):
    made = identities.make(people["citizen"])
    response = web.login(made.username, made.password)
    assert response.status_code == 302 and response.location == "/"
    page = web.get("/account").get_data(as_text=True)
    assert people["citizen"].name_ar in page
    events = db.scalars(select(AuditEvent.kind).where(AuditEvent.identity_id == made.identity.id)).all()
    assert "sign_in.succeeded" in events


def test_sign_in_with_national_id_instead_of_username(web, people, identities):
    made = identities.make(people["citizen"])
    assert web.login(people["citizen"].national_id, made.password).status_code == 302


def test_session_id_changes_at_sign_in(web, client, people, identities):
    made = identities.make(people["citizen"])
    web.get("/login")
    before = client.get_cookie("idp_session").value
    web.login(made.username, made.password)
    after = client.get_cookie("idp_session").value
    assert before != after


def test_session_cookie_flags(web, client, people, identities):
    made = identities.make(people["citizen"])
    response = web.login(made.username, made.password)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("username,password", [
    ("citizen.one", "Wrong-Password-Entirely-42"),   # known user, wrong password
    ("nobody.here", STRONG_PASSWORD),               # unknown user
    ("1000000000", STRONG_PASSWORD),                # not a valid national ID
])
def test_every_failure_gives_the_same_answer(web, people, identities, username, password):
    identities.make(people["citizen"])
    response = web.login(username, password)
    assert response.status_code == 401
    assert "username or password is not correct" in response.get_data(as_text=True) or \
        "اسم المستخدم أو كلمة المرور" in response.get_data(as_text=True)


def test_second_factor_is_asked_and_checked(web, people, identities):
    made = identities.make(people["citizen"], totp=True)
    response = web.login(made.username, made.password, second_factor=False)
    assert response.status_code == 302 and response.location.endswith("/login/verify")
    assert web.get("/account").status_code == 302  # not signed in yet
    assert web.submit("/login/verify", {"otp": "000000"}).status_code == 401
    response = web.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()})
    assert response.status_code == 302
    assert web.get("/account").status_code == 200


def test_a_totp_code_works_only_once(web, client, app, people, identities):
    made = identities.make(people["citizen"], totp=True)
    code = pyotp.TOTP(made.secret).now()
    assert web.login(made.username, made.password, otp=code).status_code == 302
    web.logout()
    second = app.test_client()
    from tests.conftest import Web
    again = Web(second).login(made.username, made.password, otp=code)
    assert again.status_code == 401


def test_a_recovery_code_replaces_the_app_once(web, app, people, identities):
    from tests.conftest import Web

    made = identities.make(people["citizen"], totp=True)
    code = made.recovery_codes[0]
    assert web.login(made.username, made.password, otp=code.lower()).status_code == 302
    assert Web(app.test_client()).login(made.username, made.password, otp=code).status_code == 401


def test_the_second_factor_step_needs_the_password_step(web):
    response = web.get("/login/verify")
    assert response.status_code == 302 and response.location.endswith("/login")


def test_lockout_after_repeated_failures_for_known_and_unknown_names(web, app, people, identities):
    made = identities.make(people["citizen"])
    settings = app.extensions["idp"].settings
    statuses = []
    for _ in range(settings.login_delay_after + 1):
        statuses.append(web.login(made.username, "Wrong-Password-Entirely-42").status_code)
    assert statuses[:settings.login_delay_after] == [401] * settings.login_delay_after
    assert statuses[-1] == 429  # the exponential delay has started
    # the right password is refused too while the delay runs
    assert web.login(made.username, made.password).status_code == 429
    unknown = [web.login("nobody.here", "Wrong-Password-Entirely-42").status_code
               for _ in range(settings.login_delay_after + 1)]
    assert unknown == statuses  # nothing tells whether the account exists


def test_locked_identity_cannot_sign_in(web, people, identities, db):
    made = identities.make(people["citizen"])
    made.identity.status = "locked"
    db.commit()
    assert web.login(made.username, made.password).status_code == 403


def test_pending_identity_is_asked_to_confirm_email(web, people, identities, smtp):
    made = identities.make(people["citizen"], active=False)
    response = web.login(made.username, made.password)
    assert response.status_code == 403
    # and can ask for the link again
    response = web.submit("/register/resend", {}, page="/login")
    assert response.status_code == 200
    assert smtp.last_to(made.email)


def test_open_redirect_refused_after_sign_in(web, people, identities):
    made = identities.make(people["citizen"])
    response = web.login(made.username, made.password, next_url="https://evil.example/steal")
    assert response.location == "/"
    response = web.login(made.username, made.password, next_url="//evil.example")
    assert response.location == "/"


def test_sign_out_ends_the_session(web, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    assert web.get("/account").status_code == 200
    assert web.logout().status_code == 200
    assert web.get("/account").status_code == 302


def test_get_on_logout_only_asks(web, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    web.get("/logout")
    assert web.get("/account").status_code == 200


def test_sign_out_of_all_devices(app, people, identities):
    from tests.conftest import Web

    made = identities.make(people["citizen"])
    laptop, phone = Web(app.test_client()), Web(app.test_client())
    laptop.login(made.username, made.password)
    phone.login(made.username, made.password)
    assert phone.get("/account").status_code == 200
    laptop.logout(everywhere=True)
    assert phone.get("/account").status_code == 302


def test_sign_out_of_all_devices_whose_revocation_fails_ends_nothing(app, services, people, identities):
    from tests.conftest import Web
    from tests.web.test_account import database_refusing_session_revocation

    made = identities.make(people["citizen"])
    laptop, phone = Web(app.test_client()), Web(app.test_client())
    laptop.login(made.username, made.password)
    phone.login(made.username, made.password)
    with database_refusing_session_revocation(services.db.engine):
        assert laptop.logout(everywhere=True).status_code == 500
    assert phone.get("/account").status_code == 200 and laptop.get("/account").status_code == 200
    with services.db.session() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.kind == "sign_out")) is None
    assert laptop.logout(everywhere=True).status_code == 200
    assert phone.get("/account").status_code == 302
    with services.db.session() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.kind == "sign_out")).detail["everywhere"]
