"""Lockout that cannot be aimed (issue 15, finding 4; NIST SP 800-63B §5.2.2; OWASP): failures
count per account and source, known devices keep working, unknown sources under attack solve a
captcha, no IP-wide lock refuses correct credentials, locks outlive the store (issue 8), and the
second factor has a hard cap without refusing a correct code typed after a few slips."""
import re

import pyotp
import pytest
from sqlalchemy import select

from idp.identity import devices
from idp.models import AuditEvent, KnownDevice, SignInLock
from tests.conftest import Web, csrf_token, current_totp

CAPTCHA = "48213"
ATTACKER_IP, OWNER_IP = "203.0.113.66", "198.51.100.20"
WRONG = "Wrong-Password-Entirely-42"


@pytest.fixture
def app_overrides():
    # No exponential delay here: these tests reach the locks themselves, quickly.
    return {"TEST_CAPTCHA_ANSWER": CAPTCHA, "ip_captcha_after": 5, "totp_max_failures": 5,
            "login_max_delay_seconds": 0}


def browser(app, ip: str) -> Web:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return Web(client)


def sign_in(web: Web, username: str, password: str, second_factor: bool = True):
    """Sign in as a person would: when the page shows a captcha, solve it and send again. With
    `second_factor=False`, stop at the second factor's page."""
    response = web.login(username, password, second_factor=second_factor)
    page = response.get_data(as_text=True)
    if response.status_code == 401 and "Type the digits in the picture as well" in page:
        challenge = re.search(r'name="captcha_id" type="hidden" value="([^"]+)"', page).group(1)
        response = web.client.post("/login", data={"csrf_token": csrf_token(page), "username": username,
                                                   "password": password, "captcha_id": challenge,
                                                   "captcha": CAPTCHA})
    return response


def attack(app, username: str, times: int, ip: str = ATTACKER_IP) -> list[int]:
    attacker = browser(app, ip)
    return [sign_in(attacker, username, WRONG).status_code for _ in range(times)]


def flush(store) -> None:
    """The store restarted empty (Redis without persistence)."""
    if hasattr(store, "flush"):
        store.flush()
    else:
        store._data.clear()


def test_an_attacker_cannot_lock_the_owner_out(app, people, identities):
    made = identities.make(people["citizen"])
    lockout = app.extensions["idp"].settings.login_lockout_after
    statuses = attack(app, made.username, lockout + 2)
    assert statuses == [401] * lockout + [429] * 2  # the attacker's own source is locked
    # the owner, from another network and a browser never seen: a captcha, then in
    owner = browser(app, OWNER_IP)
    first = owner.login(made.username, made.password)
    assert first.status_code == 401 and 'name="captcha"' in first.get_data(as_text=True)
    assert sign_in(owner, made.username, made.password).status_code == 302


def test_a_known_device_signs_in_even_behind_the_attackers_ip(app, people, identities):
    made = identities.make(people["citizen"])
    owner = browser(app, ATTACKER_IP)  # carrier-grade NAT: one IP for both
    assert owner.login(made.username, made.password).status_code == 302
    owner.logout()
    attack(app, made.username, 30)
    response = owner.login(made.username, made.password)  # no captcha, no wait
    assert response.status_code == 302


def test_one_ip_failing_never_locks_out_the_citizens_behind_it(app, people, identities):
    made = identities.make(people["citizen"])
    for n in range(5):  # password spraying across names from one address
        attack(app, f"someone.{n}", 1)
    neighbour = browser(app, ATTACKER_IP)
    first = neighbour.login(made.username, made.password)
    assert first.status_code == 401 and 'name="captcha"' in first.get_data(as_text=True)
    assert sign_in(neighbour, made.username, made.password).status_code == 302


def test_a_wrong_captcha_is_refused_without_checking_the_password(app, people, identities, db):
    made = identities.make(people["citizen"])
    attack(app, made.username, 3)
    owner = browser(app, OWNER_IP)
    page = owner.login(made.username, made.password).get_data(as_text=True)
    challenge = re.search(r'name="captcha_id" type="hidden" value="([^"]+)"', page).group(1)
    failures = len(db.scalars(select(AuditEvent).where(AuditEvent.kind == "sign_in.failed")).all())
    response = owner.client.post("/login", data={"csrf_token": csrf_token(page), "username": made.username,
                                                 "password": made.password, "captcha_id": challenge,
                                                 "captcha": "00000"}, headers={"Accept-Language": "en"})
    assert response.status_code == 401 and "do not match the picture" in response.get_data(as_text=True)
    assert 'name="captcha"' in response.get_data(as_text=True)  # a new picture
    # the password was not even looked at: no failure counted, no success
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.kind == "sign_in.failed")).all()) == failures


def test_unknown_names_ask_for_the_captcha_exactly_like_real_ones(app, people, identities):
    made = identities.make(people["citizen"])
    assert attack(app, made.username, 4) == attack(app, "nobody.here", 4)
    real = browser(app, OWNER_IP).login(made.username, WRONG)
    made_up = browser(app, OWNER_IP).login("nobody.here", WRONG)
    assert real.status_code == made_up.status_code == 401
    assert ('name="captcha"' in real.get_data(as_text=True)) == ('name="captcha"' in made_up.get_data(as_text=True))


def test_a_lock_survives_a_store_restart_and_the_cli_lifts_it(app, store, people, identities, runner, db):
    made = identities.make(people["citizen"])
    lockout = app.extensions["idp"].settings.login_lockout_after
    assert attack(app, made.username, lockout + 1, ip=OWNER_IP)[-2:] == [401, 429]
    assert db.scalars(select(SignInLock)).all()  # kept in the database
    flush(store)
    assert sign_in(browser(app, OWNER_IP), made.username, made.password).status_code == 429
    assert runner.invoke(args=["idp", "user", "unlock", made.username]).exit_code == 0
    assert sign_in(browser(app, OWNER_IP), made.username, made.password).status_code == 302


def test_the_device_cookie_is_opaque_httponly_and_kept_only_as_a_hash(app, people, identities, db):
    made = identities.make(people["citizen"])
    web = browser(app, OWNER_IP)
    response = web.login(made.username, made.password)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(devices.COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert devices.is_token(token) and made.identity.uuid not in token and made.username not in token
    stored = db.scalars(select(KnownDevice.token_hash).where(KnownDevice.identity_id == made.identity.id)).all()
    assert len(stored) == 1 and token not in stored[0]


def test_a_correct_code_after_three_slips_is_accepted(app, people, identities):
    made = identities.make(people["citizen"], totp=True)
    web = browser(app, OWNER_IP)
    assert web.login(made.username, made.password, second_factor=False).location.endswith("/login/verify")
    for _ in range(3):
        assert web.submit("/login/verify", {"otp": "000000"}).status_code == 401
    assert web.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()}).status_code == 302


def test_totp_guessing_is_hard_capped_until_a_recovery_code(app, store, people, identities):
    made = identities.make(people["citizen"], totp=True)
    cap = app.extensions["idp"].settings.totp_max_failures
    for n in range(cap):  # from many sources: the cap is per identity
        guesser = browser(app, f"192.0.2.{n + 1}")
        assert sign_in(guesser, made.username, made.password, second_factor=False).status_code == 302
        assert guesser.submit("/login/verify", {"otp": "000000"}).status_code == 401
    flush(store)  # the lock is in the database
    owner = browser(app, OWNER_IP)
    assert sign_in(owner, made.username, made.password, second_factor=False).status_code == 302
    refused = owner.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()})
    assert refused.status_code == 403 and "recovery codes" in refused.get_data(as_text=True)
    assert owner.submit("/login/verify", {"otp": made.recovery_codes[0]}).status_code == 302
    owner.logout()
    again = browser(app, OWNER_IP)  # the recovery code lifted the lock
    assert sign_in(again, made.username, made.password, second_factor=False).status_code == 302
    assert again.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()}).status_code in (302, 401)


def test_recovery_is_no_way_round_the_second_factor_cap(app, people, identities, smtp):
    made = identities.make(people["citizen"], totp=True)
    cap = app.extensions["idp"].settings.totp_max_failures
    owner = browser(app, OWNER_IP)
    owner.submit("/recover", {"national_id": people["citizen"].national_id, "email": made.email})
    link = "/" + smtp.link(made.email, "/recover/link/").split("://", 1)[1].split("/", 1)[1]
    assert owner.submit(link, {}).location.endswith("/recover/verify")
    statuses = [owner.submit("/recover/verify", {"otp": "000000"}).status_code for _ in range(cap)]
    assert statuses == [401] * cap
    refused = owner.submit("/recover/verify", {"otp": pyotp.TOTP(made.secret).now()})
    assert refused.status_code == 403 and "recovery codes" in refused.get_data(as_text=True)
    assert owner.submit("/recover/verify", {"otp": made.recovery_codes[1]}).location.endswith("/recover/password")


def test_an_account_under_attack_asks_no_captcha_of_its_signed_in_owner(app, people, identities):
    made = identities.make(people["citizen"])
    owner = browser(app, OWNER_IP)
    assert owner.login(made.username, made.password).status_code == 302
    attack(app, made.username, 5)
    response = owner.submit("/account/confirm", {"password": made.password,  # re-authentication
                                                 "otp": current_totp(made.secret)})
    assert response.status_code == 302


def test_idp_user_unlock_lifts_the_second_factor_lock(app, people, identities, runner):
    made = identities.make(people["citizen"], totp=True)
    owner = browser(app, OWNER_IP)
    assert sign_in(owner, made.username, made.password, second_factor=False).status_code == 302
    for _ in range(app.extensions["idp"].settings.totp_max_failures):
        owner.submit("/login/verify", {"otp": "000000"})
    assert owner.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()}).status_code == 403
    shown = runner.invoke(args=["idp", "user", "show", made.username, "--json"]).output
    assert '"sign_in_locked": true' in shown
    assert runner.invoke(args=["idp", "user", "unlock", made.username]).exit_code == 0
    assert owner.submit("/login/verify", {"otp": pyotp.TOTP(made.secret).now()}).status_code == 302
