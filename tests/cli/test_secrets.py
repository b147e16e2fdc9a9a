"""idp secrets …: the subject salt of an upgraded deployment, rotating the data key; and the
refusal of an instance whose secrets differ, as the console script prints it."""
import json
import os
import subprocess
import sys
import time

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from idp import create_app
from idp.models import Identity
from idp.subject_salt import from_data_key
from tests.conftest import RelyingPartyHelper, Web


@pytest.fixture
def instance(app, tmp_path, database_url, store, smtp):
    """Another instance on the app's database, with its own folders and the given data keys."""
    settings = app.extensions["idp"].settings
    started = []

    def start(name, **overrides):
        values = {"instance_path": str(tmp_path / name), "keys_path": str(tmp_path / name / "keys"),
                  "database_url": database_url, "smtp_url": smtp.url, "store": store, "TESTING": True,
                  "secret_key": settings.secret_key, "subject_salt": settings.subject_salt, **overrides}
        started.append(create_app(values))
        return started[-1]
    yield start
    for other in started:
        other.extensions["idp"].db.dispose()


def run(app, *args):
    return app.test_cli_runner().invoke(args=["idp", "secrets", *args])


def error_line(result) -> str:
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    return result.output.strip()


def totp_secret_of(db, identity_id) -> str:
    db.expire_all()
    return db.scalar(select(Identity.totp_secret).where(Identity.id == identity_id))


def sign_in_for_sub(app, made, client, otp) -> str:
    """Sign in on `app` with a second factor, authorize `client`, exchange the code: the ID token's sub."""
    services = app.extensions["idp"]
    rps, web = RelyingPartyHelper(app, services), Web(app.test_client())
    assert web.login(made.username, made.password, otp=otp).status_code == 302
    code, verifier, _ = rps.sign_in_and_authorize(web, client, made)
    response = rps.exchange(web.client, client, code, verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return services.keyring.verify(response.json["id_token"])["sub"]


# --- subject salt ----------------------------------------------------------------------------------

def test_subject_salt_from_data_key(app, services):
    result = run(app, "subject-salt", "--from-data-key", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["subject_salt"] == from_data_key(services.settings.data_key)
    assert services.settings.data_key not in result.output


def test_subject_salt_is_never_printed(app):
    assert "never printed" in error_line(run(app, "subject-salt"))


# --- rotating the data key -------------------------------------------------------------------------

def test_rotate_data_key_re_encrypts_and_nothing_else_changes(app, services, db, people, identities, rps,
                                                              instance):
    made = identities.make(people["citizen"], totp=True)
    client = rps.register()
    sub_before = sign_in_for_sub(app, made, client, pyotp.TOTP(made.secret).now())
    old_key, new_key = services.settings.data_key, Fernet.generate_key().decode()
    stored_before = totp_secret_of(db, made.identity.id)

    rotating = instance("rotating", data_key=new_key, data_keys_old=old_key)
    result = run(rotating, "rotate-data-key", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"re_encrypted": 1, "already_current": 0}
    stored_after = totp_secret_of(db, made.identity.id)
    assert stored_after != stored_before
    assert Fernet(new_key.encode()).decrypt(stored_after.encode()).decode() == made.secret
    again = run(rotating, "rotate-data-key", "--json")  # idempotent: a second run finds nothing to do
    assert json.loads(again.output) == {"re_encrypted": 0, "already_current": 1}

    rotated = instance("rotated", data_key=new_key)  # the old key is gone everywhere
    sub_after = sign_in_for_sub(rotated, made, client, pyotp.TOTP(made.secret).at(time.time() + 30))
    assert sub_after == sub_before
    with pytest.raises(Exception) as e:
        instance("stale", data_key=old_key)
    assert str(e.value).startswith("IDP_DATA_KEY: neither it nor IDP_DATA_KEYS_OLD")


def test_rotate_resumes_after_an_interruption(app, services, db, people, identities, instance):
    first = identities.make(people["citizen"], username="first.one", totp=True)
    second = identities.make(people["citizen2"], username="second.one", totp=True)
    new_key = Fernet.generate_key().decode()
    rotating = instance("rotating", data_key=new_key, data_keys_old=services.settings.data_key)
    # as if an earlier run had re-encrypted the first row and stopped
    fernet = rotating.extensions["idp"].fernet
    db.execute(update(Identity).where(Identity.id == first.identity.id).values(
        totp_secret=fernet.rotate(totp_secret_of(db, first.identity.id).encode()).decode()))
    db.commit()
    result = run(rotating, "rotate-data-key", "--batch-size", "1", "--json")
    assert json.loads(result.output) == {"re_encrypted": 1, "already_current": 1}
    assert Fernet(new_key.encode()).decrypt(totp_secret_of(db, second.identity.id).encode()).decode() == second.secret


def test_rotate_refuses_to_record_a_key_that_cannot_read_every_secret(app, services, db, people, identities,
                                                                      instance):
    made = identities.make(people["citizen"], totp=True)
    new_key = Fernet.generate_key().decode()
    db.execute(update(Identity).where(Identity.id == made.identity.id).values(
        totp_secret=Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXP").decode()))
    db.commit()
    rotating = instance("rotating", data_key=new_key, data_keys_old=services.settings.data_key)
    line = error_line(run(rotating, "rotate-data-key"))
    assert "1 TOTP secret(s) cannot be decrypted" in line and str(made.identity.id) in line
    with pytest.raises(Exception, match="IDP_DATA_KEY"):
        instance("only-new", data_key=new_key)  # the fingerprint still names the old key


# --- the console script ---------------------------------------------------------------------------

def test_console_script_names_the_differing_setting_in_one_line(app, services, database_url, tmp_path):
    env = {**os.environ, "IDP_DATABASE_URL": database_url, "IDP_INSTANCE_PATH": str(tmp_path / "cli"),
           "IDP_SECRET_KEY": "a-secret-key-nobody-else-has-0123456789", "IDP_DATA_KEY": services.settings.data_key,
           "IDP_SUBJECT_SALT": services.settings.subject_salt}
    env.pop("IDP_KEYS_PASSPHRASE", None)
    result = subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", "keys", "list"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: IDP_SECRET_KEY: differs from the value the other instances use")
    assert len(result.stderr.strip().splitlines()) == 1
    env["IDP_SECRET_KEY"] = services.settings.secret_key
    fine = subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", "secrets", "check"],
                          capture_output=True, text=True, env=env)
    assert fine.returncode == 0, fine.stderr
    assert "the same as the other instances'" in fine.stdout
