"""idp user …: through the CLI, as an administrator uses it."""
import json

import pytest

from tests.conftest import STRONG_PASSWORD


def idp(runner, *args, input=None):
    return runner.invoke(args=["idp", *args], input=input)


def test_create_with_password_from_stdin(runner, people):
    person = people["citizen"]
    result = idp(runner, "user", "create", "--national-id", person.national_id,
                 "--birth-date", person.birth_date.isoformat(), "--username", "Admin.Made",
                 "--email", "made@example.com", "--password-stdin", "--json", input=STRONG_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["username"] == "admin.made" and data["status"] == "active"
    assert "password" not in data


def test_create_generates_a_password_when_none_given(runner, people, web):
    person = people["citizen"]
    result = idp(runner, "user", "create", "--national-id", person.national_id,
                 "--birth-date", person.birth_date.isoformat(), "--username", "gen.user",
                 "--email", "gen@example.com", "--json")
    assert result.exit_code == 0, result.output
    password = json.loads(result.output)["password"]
    assert web.login("gen.user", password).status_code == 302


@pytest.mark.parametrize("args,message", [
    (["--national-id", "123"], "national ID"),
    (["--birth-date", "1990-04-31"], "date"),
    (["--birth-date", "1991-01-01"], "civil registry"),
    (["--username", "x"], "sername"),
    (["--email", "nope"], "mail"),
])
def test_create_refuses_bad_input_in_one_line(runner, people, args, message):
    person = people["citizen"]
    base = {"--national-id": person.national_id, "--birth-date": person.birth_date.isoformat(),
            "--username": "good.name", "--email": "good@example.com"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [item for pair in base.items() for item in pair]
    result = idp(runner, "user", "create", *flat, "--password-stdin", input=STRONG_PASSWORD + "\n")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in result.output


def test_weak_password_from_stdin_refused(runner, people):
    person = people["citizen"]
    result = idp(runner, "user", "create", "--national-id", person.national_id,
                 "--birth-date", person.birth_date.isoformat(), "--username", "good.name",
                 "--email", "good@example.com", "--password-stdin", input="password\n")
    assert result.exit_code == 1 and result.output.startswith("error:")


def test_show_lock_unlock_reset_mfa(runner, people, identities, web):
    made = identities.make(people["citizen"], totp=True)
    shown = json.loads(idp(runner, "user", "show", made.username, "--json").output)
    assert shown["two_step"] is True and shown["recovery_codes_left"] == 10
    assert "password_hash" not in shown and "totp_secret" not in shown
    assert json.loads(idp(runner, "user", "lock", made.username, "--json").output)["status"] == "locked"
    assert web.login(made.username, made.password).status_code == 403
    assert idp(runner, "user", "unlock", people["citizen"].national_id).exit_code == 0
    assert idp(runner, "user", "reset-mfa", made.username).exit_code == 0
    assert web.login(made.username, made.password).status_code == 302  # no second factor now


def test_unknown_user_is_one_line(runner):
    result = idp(runner, "user", "show", "nobody")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "no identity" in result.output


def test_unlock_lifts_a_sign_in_lockout(runner, app, people, identities, web):
    made = identities.make(people["citizen"])
    limit = app.extensions["idp"].settings.login_lockout_after
    from idp.identity.locks import DatabaseLocks
    from idp.identity.throttle import LoginThrottle, account_for
    with app.extensions["idp"].db.session() as session:  # the web's throttle; the client's IP
        throttle = LoginThrottle(app.extensions["idp"].store, app.extensions["idp"].settings,
                                 locks=DatabaseLocks(session))
        for _ in range(limit):
            throttle.record_failure(account_for(made.identity.id, ""), "127.0.0.1")
        session.commit()
    assert json.loads(idp(runner, "user", "show", made.username, "--json").output)["sign_in_locked"]
    assert web.login(made.username, made.password).status_code == 429
    idp(runner, "user", "unlock", made.username)
    assert web.login(made.username, made.password).status_code == 302


def test_unlock_does_not_activate_a_pending_identity(runner, people, identities, web):
    """Unlocking lifts a lock; only the emailed link proves the address and activates (issue 15, 8)."""
    made = identities.make(people["citizen"], active=False)
    result = json.loads(idp(runner, "user", "unlock", made.username, "--json").output)
    assert result["status"] == "pending"
    assert json.loads(idp(runner, "user", "show", made.username, "--json").output)["status"] == "pending"
    assert web.login(made.username, made.password).status_code == 403  # "confirm your email first"
    idp(runner, "user", "lock", made.username)
    assert json.loads(idp(runner, "user", "unlock", made.username, "--json").output)["status"] == "pending"


def test_lock_revokes_every_session_in_the_same_transaction(runner, app, services, people, identities, web):
    from tests.web.test_account import database_refusing_session_revocation

    made = identities.make(people["citizen"])
    assert web.login(made.username, made.password).status_code == 302
    sessions = app.session_interface.sessions
    with database_refusing_session_revocation(services.db.engine):
        assert idp(runner, "user", "lock", made.username).exit_code == 1  # one line, nothing changed
    assert json.loads(idp(runner, "user", "show", made.username, "--json").output)["status"] == "active"
    assert sessions.count(made.identity.uuid) == 1 and web.get("/account").status_code == 200
    assert idp(runner, "user", "lock", made.username).exit_code == 0
    assert sessions.count(made.identity.uuid) == 0  # revoked in the database, not only refused at use
    assert web.get("/account").status_code == 302
