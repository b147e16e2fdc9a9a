"""Password recovery through the registered email, over a real SMTP server on loopback."""
import pyotp

from tests.conftest import Web, current_totp

NEW_PASSWORD = "Camels-Cross-The-Nafud-At-Dawn"


def ask(web, national_id, email):
    return web.submit("/recover", {"national_id": national_id, "email": email})


def link_path(smtp, address):
    return "/" + smtp.link(address, "/recover/link/").split("://", 1)[1].split("/", 1)[1]


def to_new_password(web, made, smtp):
    """The link from the mail, then the second factor: at the new-password form."""
    ask(web, made.identity.national_id, made.email)
    assert web.submit(link_path(smtp, made.email), {}).location.endswith("/recover/verify")
    assert web.submit("/recover/verify", {"otp": current_totp(made.secret)}).location.endswith("/recover/password")


def test_recovery_ends_every_session_and_tells_the_citizen(web, app, people, identities, smtp):
    made = identities.make(people["citizen"])
    other_device = Web(app.test_client())
    other_device.login(made.username, made.password)
    response = ask(web, people["citizen"].national_id, made.email.upper())
    assert response.status_code == 200
    path = link_path(smtp, made.email)
    assert web.get(path).status_code == 200          # GET asks to confirm
    response = web.submit(path, {})
    assert response.status_code == 302 and response.location.endswith("/recover/verify")
    assert web.get("/recover/password").location.endswith("/recover/verify")  # the second factor first
    assert web.submit("/recover/verify", {"otp": current_totp(made.secret)}).location.endswith("/recover/password")
    response = web.submit("/recover/password", {"new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert other_device.get("/account").status_code == 302     # every session revoked
    assert "password" in smtp.last_to(made.email)["Subject"].lower()  # notified
    assert web.login(made.username, made.password).status_code == 401
    assert web.login(made.username, NEW_PASSWORD).status_code == 302


def test_recovery_of_an_identity_without_a_second_factor_then_sets_one_up(web, people, identities, smtp):
    """Made before registration asked for a second factor: nothing to ask at recovery; the sign-in
    that follows sets one up before anything else."""
    made = identities.make(people["citizen"], totp=False)
    ask(web, people["citizen"].national_id, made.email)
    web.submit(link_path(smtp, made.email), {})
    assert web.get("/recover/verify").location.endswith("/recover/password")  # no second factor to ask
    assert web.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200
    assert web.login(made.username, NEW_PASSWORD).location.endswith("/two-step/set-up")


def test_same_answer_whether_or_not_details_match(web, people, identities, smtp):
    made = identities.make(people["citizen"])
    matching = ask(web, people["citizen"].national_id, made.email).get_data(as_text=True)
    wrong_email = ask(web, people["citizen"].national_id, "someone@else.example").get_data(as_text=True)
    no_identity = ask(web, people["citizen2"].national_id, made.email).get_data(as_text=True)
    strip = lambda html: html.split("<main")[1].split("</main>")[0]
    assert strip(matching) == strip(wrong_email) == strip(no_identity)
    assert len(smtp.messages) == 1


def test_recovery_does_not_bypass_the_second_factor(web, people, identities, smtp):
    made = identities.make(people["citizen"], totp=True)
    ask(web, people["citizen"].national_id, made.email)
    web.submit(link_path(smtp, made.email), {})
    response = web.get("/recover/password")
    assert response.status_code == 302 and response.location.endswith("/recover/verify")
    assert web.submit("/recover/verify", {"otp": "123456"}).status_code == 401
    response = web.submit("/recover/verify", {"otp": pyotp.TOTP(made.secret).now()})
    assert response.location.endswith("/recover/password")
    assert web.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200


def test_a_recovery_code_also_satisfies_the_second_factor(web, people, identities, smtp):
    made = identities.make(people["citizen"], totp=True)
    ask(web, people["citizen"].national_id, made.email)
    web.submit(link_path(smtp, made.email), {})
    response = web.submit("/recover/verify", {"otp": made.recovery_codes[3]})
    assert response.location.endswith("/recover/password")


def test_the_link_works_once(web, app, people, identities, smtp):
    made = identities.make(people["citizen"])
    ask(web, people["citizen"].national_id, made.email)
    path = link_path(smtp, made.email)
    web.submit(path, {})
    assert Web(app.test_client()).submit(path, {}, page="/recover").status_code == 410


def test_an_expired_link_is_refused(web, people, identities, smtp, db):
    from sqlalchemy import update

    from idp.models import EmailLink, utcnow

    made = identities.make(people["citizen"])
    ask(web, people["citizen"].national_id, made.email)
    path = link_path(smtp, made.email)
    db.execute(update(EmailLink).values(expires_at=utcnow()))  # what time does
    db.commit()
    assert web.get(path).status_code == 410


def test_a_link_outlives_the_store(web, people, identities, smtp, store):
    """Links are in the database: a Redis restart neither kills them nor lets a used one work again."""
    made = identities.make(people["citizen"])
    ask(web, people["citizen"].national_id, made.email)
    path = link_path(smtp, made.email)
    if hasattr(store, "flush"):
        store.flush()
    else:
        store._data.clear()
    assert web.get(path).status_code == 200
    assert web.submit(path, {}).status_code == 302
    assert web.get(path).status_code == 410


def test_weak_new_password_is_refused_and_the_old_one_kept(web, people, identities, smtp):
    made = identities.make(people["citizen"])
    to_new_password(web, made, smtp)
    response = web.submit("/recover/password", {"new_password": "password1234"})
    assert response.status_code == 400
    assert Web(web.client.application.test_client()).login(made.username, made.password).status_code == 302


def test_password_step_without_a_link(web):
    assert web.get("/recover/password").status_code == 410


def test_recovery_mail_is_limited_per_identity(web, people, identities, smtp):
    made = identities.make(people["citizen"])
    for _ in range(7):
        assert ask(web, people["citizen"].national_id, made.email).status_code == 200
    assert len(smtp.to(made.email)) == 5


def test_a_reset_whose_revocation_fails_changes_nothing(web, app, services, people, identities, smtp):
    """The new password and the end of every session commit together, or not at all."""
    from tests.web.test_account import database_refusing_session_revocation

    made = identities.make(people["citizen"])
    other_device = Web(app.test_client())
    other_device.login(made.username, made.password)
    to_new_password(web, made, smtp)
    smtp.messages.clear()
    with database_refusing_session_revocation(services.db.engine):
        assert web.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 500
    assert other_device.get("/account").status_code == 200     # still signed in ...
    assert Web(app.test_client()).login(made.username, NEW_PASSWORD).status_code == 401  # ... password kept
    assert not smtp.messages                                    # no "password changed" mail
    assert web.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200  # grant kept
    assert other_device.get("/account").status_code == 302
