"""idp db upgrade, and the CLI's handling of a database that is not there."""
import json
import subprocess
import sys

from idp import create_app


def test_upgrade_is_idempotent(runner):
    result = runner.invoke(args=["idp", "db", "upgrade", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["upgraded_to"] == "head"


def test_upgrade_on_a_fresh_sqlite_file(tmp_path, store):
    app = create_app({"instance_path": str(tmp_path), "store": store})
    result = app.test_cli_runner().invoke(args=["idp", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "idp.sqlite3").exists()


def test_database_unreachable_is_one_line(tmp_path, store):
    app = create_app({"instance_path": str(tmp_path), "store": store,
                      "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    result = app.test_cli_runner().invoke(args=["idp", "user", "show", "someone"])
    assert result.exit_code == 1
    assert result.output.startswith("error: database error") and result.output.count("\n") == 1


def test_console_script_reports_a_bad_setting_in_one_line(tmp_path):
    env = {"IDP_ISSUER": "http://sso.example.com", "IDP_INSTANCE_PATH": str(tmp_path), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", "db", "upgrade"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: IDP_ISSUER: must be https unless it is a loopback address"


def test_prune_removes_ended_sessions_and_all_sessions_ends_the_live_ones(runner, app, services, db, people,
                                                                          identities):
    from sqlalchemy import func, select

    from idp.identity.sessions import new_session_id
    from idp.models import SignInSession

    made = identities.make(people["citizen"])
    store = app.session_interface.sessions
    live, revoked = new_session_id(), new_session_id()
    for sid in (live, revoked):
        store.create(sid, {"identity_uuid": made.identity.uuid})
    store.revoke_all(db, made.identity.uuid, keep=live)
    db.commit()
    result = runner.invoke(args=["idp", "db", "prune", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {"sessions_removed": 1}
    assert store.load(live) is not None
    result = runner.invoke(args=["idp", "db", "prune", "--all-sessions"])
    assert result.exit_code == 0 and result.output == "removed 1 sessions\n"
    assert store.load(live) is None
    assert db.scalar(select(func.count()).select_from(SignInSession)) == 0
