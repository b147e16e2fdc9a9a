"""The restore drill (issue 8): PostgreSQL restored from a dump while Redis keeps running. An
integer id is handed out again; an old session cookie must not open the new citizen's account.

Runs on a throwaway cluster (initdb/pg_ctl on a spare port), the procedure the README describes:
pg_dump -Fc → pg_restore into a new database → idp db upgrade → idp db prune --all-sessions.
"""
import datetime as dt
import secrets

import pytest

from idp import create_app
from idp.db import Database
from idp.identity import accounts
from idp.models import RegistryPerson
from tests import second_factor
from tests.conftest import STRONG_PASSWORD, Web, make_national_id

PEOPLE = [("1", 1001, "Mohammed Abdullah Alqahtani"), ("1", 1002, "Noura Saad Alotaibi"),
          ("2", 2001, "Ahmed Khan")]


@pytest.fixture
def drill(pg_cluster, tmp_path, store, smtp):
    """Makes IdP apps on databases of the throwaway cluster; all share one store (Redis kept running)."""
    secret_key = secrets.token_urlsafe(32)
    made = []

    def app_on(database: str):
        url = pg_cluster.url(database)
        Database(url).upgrade()
        app = create_app({"instance_path": str(tmp_path / "instance"), "keys_path": str(tmp_path / "keys"),
                          "database_url": url, "smtp_url": smtp.url, "secret_key": secret_key,
                          "store": store, "TESTING": True})
        made.append(app)
        return app

    yield app_on
    for app in made:
        app.extensions["idp"].db.dispose()


def register(app, index: int, username: str):
    prefix, serial, name = PEOPLE[index]
    with app.extensions["idp"].db.session() as db:
        person = db.get(RegistryPerson, make_national_id(prefix, serial))
        identity = accounts.create(db, person, username, STRONG_PASSWORD, f"{username}@example.com",
                                   f"05512345{index:02d}", active=True)
        SECRETS[username] = second_factor.turn_on_totp(db, app.extensions["idp"], identity)
        db.commit()
        return identity.id, name


SECRETS: dict[str, str] = {}  # username → TOTP secret


def signed_in_device(app, username: str) -> Web:
    device = Web(app.test_client())
    assert device.login(username, STRONG_PASSWORD, otp=second_factor.fresh_totp(SECRETS[username])).status_code == 302
    return device


def same_browser_on(app, device: Web) -> Web:
    """The browser keeps its cookie; the instance behind the address now runs on the restored database."""
    moved = Web(app.test_client())
    moved.client.set_cookie("idp_session", device.client.get_cookie("idp_session").value)
    return moved


def test_restore_drill_an_old_session_never_opens_another_citizens_account(pg_cluster, drill, tmp_path):
    pg_cluster.create_database("idp")
    before = drill("idp")
    with before.extensions["idp"].db.session() as db:
        db.add_all(RegistryPerson(national_id=make_national_id(prefix, serial), birth_date=dt.date(1990, 1, 1),
                                  gender="M", name_ar="مواطن", name_en=name, nationality="SAU")
                   for prefix, serial, name in PEOPLE)
        db.commit()
    _, first_name = register(before, 0, "first.citizen")
    first = signed_in_device(before, "first.citizen")

    backup = tmp_path / "idp.dump"
    pg_cluster.dump("idp", backup)  # the nightly backup

    second_id, second_name = register(before, 1, "second.citizen")  # after the backup: lost by the restore
    second = signed_in_device(before, "second.citizen")
    assert second_name in second.get("/account").get_data(as_text=True)

    pg_cluster.restore(backup, "idp_restored")  # the disaster; Redis (the shared store) kept running
    after = drill("idp_restored")
    third_id, third_name = register(after, 2, "third.citizen")
    assert third_id == second_id  # the integer id is handed out again

    second_again = same_browser_on(after, second)
    response = second_again.get("/account")
    assert response.status_code == 302 and "/login" in response.location
    assert third_name not in second_again.get("/", follow_redirects=True).get_data(as_text=True)

    # A session from before the backup is its own citizen's still, and no one else's ...
    first_again = same_browser_on(after, first)
    assert first_name in first_again.get("/account").get_data(as_text=True)
    # ... until the last step of the procedure ends every session (revocations made since the
    # backup are lost with it; signing everyone out undoes nothing that mattered).
    result = after.test_cli_runner().invoke(args=["idp", "db", "prune", "--all-sessions"])
    assert result.exit_code == 0 and "sessions: 1 deleted" in result.output
    assert first_again.get("/account").status_code == 302
    assert third_name in signed_in_device(after, "third.citizen").get("/account").get_data(as_text=True)
