"""idp db upgrade, and the CLI's handling of a database that is not there."""
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from idp import create_app
from tests.conftest import TEST_DATABASE_URL


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


def test_sqlite_database_and_its_wal_are_private(tmp_path, store):
    """Password hashes and personal data: 0600 for the database, -wal and -shm (issue 15, 8)."""
    import os
    import stat

    previous = os.umask(0o022)  # the usual umask, under which SQLite makes its files 0644
    try:
        app = create_app({"instance_path": str(tmp_path), "store": store})
        runner = app.test_cli_runner()
        assert runner.invoke(args=["idp", "db", "upgrade"]).exit_code == 0
        assert runner.invoke(args=["idp", "user", "show", "someone"]).exit_code == 1  # opens it in WAL mode
        files = [tmp_path / name for name in ("idp.sqlite3", "idp.sqlite3-wal", "idp.sqlite3-shm")]
        present = [f for f in files if f.exists()]
        assert files[0] in present and len(present) == 3, present
        assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in present} == \
            {f.name: "0o600" for f in present}
        app.extensions["idp"].db.dispose()
    finally:
        os.umask(previous)


@pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"), reason="advisory locks are PostgreSQL's")
def test_upgrades_started_together_all_succeed(tmp_path):
    """Several instances deploying at once run `idp db upgrade` together: an advisory lock queues them."""
    url = make_url(TEST_DATABASE_URL)
    fresh = url.set(database=f"{url.database}_upgrade")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{fresh.database}"'))
    # Instances deploying together share their secrets (else the secrets check refuses the others).
    from cryptography.fernet import Fernet
    import secrets as secrets_module
    shared = {"IDP_SECRET_KEY": secrets_module.token_urlsafe(32), "IDP_DATA_KEY": Fernet.generate_key().decode(),
              "IDP_SUBJECT_SALT": secrets_module.token_urlsafe(32)}
    try:
        runs = [subprocess.Popen(
            [sys.executable, "-c", "from idp.cli import main; main()", "db", "upgrade"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **shared, "IDP_DATABASE_URL": fresh.render_as_string(hide_password=False),
                 "IDP_REDIS_URL": "", "IDP_INSTANCE_PATH": str(tmp_path / f"instance{n}"),
                 "IDP_KEYS_PATH": str(tmp_path / f"keys{n}")}) for n in range(3)]
        results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
        assert all(code == 0 for code, _out, _err in results), results
        migrated = create_engine(fresh)
        with migrated.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            assert "token_families" in inspect(connection).get_table_names()
        migrated.dispose()
        assert len(versions) == 1
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        admin.dispose()


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
    assert result.exit_code == 0 and json.loads(result.output)["sessions"] == 1
    assert store.load(live) is not None
    result = runner.invoke(args=["idp", "db", "prune", "--all-sessions"])
    assert result.exit_code == 0 and result.output.startswith("sessions: 1 deleted, ")
    assert store.load(live) is None
    assert db.scalar(select(func.count()).select_from(SignInSession)) == 0
