"""The account page: identity facts, credentials changes behind re-authentication, two-step setup."""
import contextlib
import time
import re

import pyotp
from sqlalchemy import select, text

from idp.models import Identity
from tests.conftest import Web, current_totp

NEW_PASSWORD = "Frankincense-And-Myrrh-Road"


def test_account_needs_sign_in(web):
    response = web.get("/account")
    assert response.status_code == 302 and "/login?next=/account" in response.location


def test_account_shows_registry_facts_and_activity(web, people, identities):
    made = identities.make(people["resident"])
    web.login(made.username, made.password)
    html = web.get("/account").get_data(as_text=True)
    assert people["resident"].name_en in html and people["resident"].name_ar in html
    assert ("Resident" in html) or ("مقيم" in html)
    assert "19 ربيع الآخر 1406 هـ" in html and "1985-12-31" in html  # the Hijri month named
    assert made.email in html
    assert html.count("<tr>") >= 2  # the sign-in shows in recent activity


def test_changing_the_password_asks_for_it_again_after_a_while(web, app, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    with web.client.session_transaction() as session:
        session["auth_time"] -= 3600
    response = web.get("/account/password")
    assert response.status_code == 302 and "/account/confirm" in response.location
    response = web.submit("/account/confirm?next=/account/password",
                          {"password": made.password, "otp": current_totp(made.secret)})
    assert response.location == "/account/password"
    assert web.get("/account/password").status_code == 200


def test_change_password_revokes_other_sessions_and_notifies(web, app, people, identities, smtp):
    made = identities.make(people["citizen"])
    other = Web(app.test_client())
    other.login(made.username, made.password)
    web.login(made.username, made.password)
    response = web.submit("/account/password", {"current_password": "wrong-wrong-wrong", "new_password": NEW_PASSWORD})
    assert response.status_code == 400
    response = web.submit("/account/password", {"current_password": made.password, "new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert web.get("/account").status_code == 200          # this session stays
    assert other.get("/account").status_code == 302        # the other is signed out
    assert smtp.last_to(made.email)



REFUSE_REVOCATION = {
    "sqlite": ["CREATE TRIGGER refuse_revocation BEFORE UPDATE OF revoked_at ON sign_in_sessions "
               "BEGIN SELECT RAISE(ABORT, 'session revocation refused'); END"],
    "postgresql": ["CREATE FUNCTION refuse_revocation() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'session revocation refused'; END $$",
                   "CREATE TRIGGER refuse_revocation BEFORE UPDATE OF revoked_at ON sign_in_sessions "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_revocation()"],
}
ALLOW_REVOCATION = {
    "sqlite": ["DROP TRIGGER refuse_revocation"],
    "postgresql": ["DROP TRIGGER refuse_revocation ON sign_in_sessions", "DROP FUNCTION refuse_revocation()"],
}


@contextlib.contextmanager
def database_refusing_session_revocation(engine):
    """A real failure of the revocation step: the database itself refuses the statement."""
    with engine.begin() as connection:
        for statement in REFUSE_REVOCATION[engine.dialect.name]:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in ALLOW_REVOCATION[engine.dialect.name]:
                connection.execute(text(statement))


def test_a_password_change_whose_revocation_fails_changes_nothing(web, app, services, people, identities, smtp):
    """The new password and the end of the other sessions commit together, or not at all."""
    made = identities.make(people["citizen"])
    other = Web(app.test_client())
    other.login(made.username, made.password)
    web.login(made.username, made.password)
    with database_refusing_session_revocation(services.db.engine):
        response = web.submit("/account/password", {"current_password": made.password,
                                                    "new_password": NEW_PASSWORD})
    assert response.status_code == 500
    assert other.get("/account").status_code == 200               # not signed out ...
    assert Web(app.test_client()).login(made.username, NEW_PASSWORD).status_code == 401
    assert Web(app.test_client()).login(made.username, made.password).status_code == 302  # ... nor changed
    assert not smtp.to(made.email)                                # and no "password changed" mail
    response = web.submit("/account/password", {"current_password": made.password, "new_password": NEW_PASSWORD})
    assert response.status_code == 200                            # once revocation works, it works
    assert other.get("/account").status_code == 302

def test_move_totp_to_a_new_phone_then_sign_in_with_it(web, app, people, identities, db):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    assert "<svg" not in web.get("/account/two-step").get_data(as_text=True)  # on: no new key unasked
    page = web.get("/account/two-step?replace=1").get_data(as_text=True)
    assert "<svg" in page
    secret = "".join(re.findall(r'<span class="key-group">([A-Z2-7]+)</span>', page))  # shown in groups of four
    response = web.submit("/account/two-step?replace=1", {"otp": "000000"})
    assert response.status_code == 400
    # The next step's code: this identity's current step was spent signing in (one code per step).
    response = web.submit("/account/two-step?replace=1", {"otp": pyotp.TOTP(secret).at(time.time() + 30)})
    assert response.status_code == 200
    codes = re.findall(r"<code>([A-Z0-9-]+)</code>", response.get_data(as_text=True))
    assert len(codes) == 10
    identity = db.scalar(select(Identity).where(Identity.id == made.identity.id))
    db.refresh(identity)
    assert identity.has_totp and secret not in (identity.totp_secret or "")  # encrypted at rest
    fresh = Web(app.test_client())
    assert fresh.login(made.username, made.password, second_factor=False).location.endswith("/login/verify")
    assert fresh.submit("/login/verify", {"otp": made.recovery_codes[0]}).status_code == 401  # the old ones died
    assert fresh.submit("/login/verify", {"otp": codes[0]}).status_code == 302


def test_the_only_second_factor_cannot_be_turned_off(web, people, identities, db):
    made = identities.make(people["citizen"], totp=True)
    web.client.set_cookie("idp_lang", "en")
    web.login(made.username, made.password)
    response = web.submit("/account/two-step/off", {}, page="/account/two-step")
    assert response.status_code == 409 and "only second step" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Identity, made.identity.id).has_totp


def test_change_email_takes_effect_when_the_link_is_opened(web, people, identities, smtp, db):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    assert web.submit("/account/email", {"email": "bad"}).status_code == 400
    response = web.submit("/account/email", {"email": "new.address@example.org"})
    assert response.status_code == 200
    told = smtp.body(smtp.last_to(made.email))           # the old address is told: a change was asked for
    assert "was requested" in told and "Nothing has changed yet" in told and "was changed" not in told
    assert "ne***@example.org" in told                    # enough to tell it from the old address
    db.expire_all()
    assert db.get(Identity, made.identity.id).email == made.email
    link = smtp.link("new.address@example.org", "/register/verify/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert web.submit(path, {}).status_code == 200
    db.expire_all()
    assert db.get(Identity, made.identity.id).email == "new.address@example.org"
    told = smtp.body(smtp.last_to(made.email))           # and told again once it is done
    assert "was changed to ne***@example.org" in told


def test_connected_services_can_be_disconnected(web, client, rps, people, identities, db):
    import re

    from idp.models import Consent
    made = identities.make(people["citizen"])
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    tokens = rps.exchange(client, rp, code, verifier).json
    web.client.set_cookie("idp_lang", "en")
    page = web.get("/account").get_data(as_text=True)
    assert "Masar" in page
    link = re.search(r'href="(/account/services/\d+/disconnect)"', page).group(1)
    confirm = web.get(link).get_data(as_text=True)             # asked first; a link changes nothing
    assert "<h1>Disconnect <bdi>Masar</bdi>?</h1>" in confirm and db.query(Consent).count() == 1
    done = web.submit(link, {})
    assert done.status_code == 200 and db.query(Consent).count() == 0
    text = done.get_data(as_text=True)
    assert "Masar is disconnected" in text and "No service has received" not in text
    assert "No service is connected" in web.get("/account").get_data(as_text=True)
    assert web.get(link).location.endswith("/account")         # nothing left to disconnect
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


def test_confirming_the_password_is_throttled_like_sign_in(web, app, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    statuses = [web.submit("/account/confirm", {"password": "Wrong-Password-Entirely-42"}).status_code
                for _ in range(app.extensions["idp"].settings.login_delay_after + 1)]
    assert statuses[-1] == 429
    assert web.submit("/account/confirm", {"password": made.password}).status_code == 429


def test_an_email_change_link_dies_with_a_password_change(web, people, identities, smtp, db):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    web.submit("/account/email", {"email": "intruder@evil.example"})
    link = smtp.link("intruder@evil.example", "/register/verify/")
    web.submit("/account/password", {"current_password": made.password, "new_password": NEW_PASSWORD})
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert web.submit(path, {}, page="/account").status_code == 410
    db.expire_all()
    assert db.get(Identity, made.identity.id).email == made.email
