"""idp keys …: through the CLI, as an operator uses it; keys shared by instances through the database."""
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from joserfc import jws
from sqlalchemy import select

from idp import create_app

from idp.cli import IdpGroup
from idp.cli.keys import group
from idp.keyring import KeyRing
from idp.models import AuditEvent, SigningKey


@pytest.fixture
def idp(app):
    """Runs `idp keys …` under the same error handling as the real `idp` command."""
    cli = IdpGroup("idp")
    cli.add_command(group)

    def run(*args, env=None):
        with app.app_context():
            return CliRunner().invoke(cli, ["keys", *args], env=env)
    return run


@pytest.fixture
def ring(services):
    """Another instance's view of the keys: a ring of its own on the same database."""
    return KeyRing(services.db)


def ok_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_generate_then_list(idp):
    first = ok_json(idp("generate", "--alg", "ES256", "--json"))
    assert first["state"] == "active" and first["alg"] == "ES256" and first["created_at"].endswith("Z")
    second = idp("generate", "--alg", "ES256")
    assert second.exit_code == 0 and "next, published" in second.output and "idp keys rotate" in second.output
    listed = ok_json(idp("list", "--json"))
    assert [(k["state"], k["published"]) for k in listed] == [("active", True), ("next", True)]
    assert set(listed[0]) == {"kid", "alg", "state", "created_at", "activated_at", "retired_at", "published"}
    table = idp("list").output
    assert first["kid"] in table and "published" in table.splitlines()[0]


def test_default_alg_is_rs256(idp, ring):
    made = ok_json(idp("generate", "--json"))
    assert made["alg"] == "RS256"
    assert ring.signing_key("RS256")[0] == made["kid"]


def test_rotate(idp, services, db):
    old = ok_json(idp("generate", "--alg", "ES256", "--json"))
    waiting = ok_json(idp("generate", "--alg", "ES256", "--json"))
    rotated = ok_json(idp("rotate", "--alg", "ES256", "--json"))
    assert rotated["active"]["kid"] == waiting["kid"] and rotated["active"]["activated_at"]
    assert rotated["retired"]["kid"] == old["kid"] and rotated["retired"]["state"] == "retired"
    assert rotated["next"]["state"] == "next"
    assert KeyRing(services.db).signing_key("ES256")[0] == waiting["kid"]
    text = idp("rotate", "--alg", "ES256").output
    assert f"active: {rotated['next']['kid']}" in text and f"retired: {waiting['kid']}" in text
    kinds = db.scalars(select(AuditEvent.kind)).all()
    assert kinds.count("admin.keys_generated") == 2 and kinds.count("admin.keys_rotated") == 2


def test_empty_list(idp):
    assert ok_json(idp("list", "--json")) == []
    assert "idp keys generate" in idp("list").output


def test_rotate_without_next_key(idp):
    ok_json(idp("generate", "--alg", "ES256", "--json"))
    assert "run `idp keys generate --alg ES256` first" in error_line(idp("rotate", "--alg", "ES256"))


def test_sign_key_missing_for_alg(idp):
    assert "idp keys generate --alg RS256" in error_line(idp("rotate"))


def test_second_next_key_refused(idp):
    idp("generate", "--alg", "ES256")
    idp("generate", "--alg", "ES256")
    assert "already published" in error_line(idp("generate", "--alg", "ES256"))


def test_unknown_alg_refused_by_click(idp):
    result = idp("generate", "--alg", "HS256")
    assert result.exit_code == 2 and "HS256" in result.output


def test_wrong_passphrase_is_one_line(idp):
    env = {"IDP_KEYS_PASSPHRASE": "right passphrase"}
    ok_json(idp("generate", "--alg", "ES256", "--json", env=env))
    waiting = ok_json(idp("generate", "--alg", "ES256", "--json", env=env))
    line = error_line(idp("rotate", "--alg", "ES256", env={"IDP_KEYS_PASSPHRASE": "wrong"}))
    assert waiting["kid"] in line and "wrong IDP_KEYS_PASSPHRASE" in line
    assert ok_json(idp("rotate", "--alg", "ES256", "--json", env=env))["active"]["kid"] == waiting["kid"]


def test_generate_saml(idp, services, db):
    made = ok_json(idp("generate-saml", "--json", env={"IDP_KEYS_PASSPHRASE": "saml pass"}))
    host = urlsplit(services.settings.issuer).hostname
    assert made["created"] and made["subject"] == f"CN={host}"
    row = db.get(SigningKey, made["kid"])
    assert row.purpose == "saml" and "ENCRYPTED PRIVATE KEY" in row.private_pem
    fingerprint = x509.load_pem_x509_certificate(row.certificate.encode()).fingerprint(hashes.SHA256())
    assert made["sha256_fingerprint"] == fingerprint.hex(":").upper()
    again = idp("generate-saml")
    assert again.exit_code == 0 and "kept existing" in again.output and made["sha256_fingerprint"] in again.output
    forced = ok_json(idp("generate-saml", "--force", "--json"))
    assert forced["created"] and forced["sha256_fingerprint"] != made["sha256_fingerprint"]
    db.expire_all()
    assert "ENCRYPTED" not in db.get(SigningKey, forced["kid"]).private_pem
    assert db.get(SigningKey, made["kid"]).state == "retired"


# --- several instances, no shared filesystem ---------------------------------------------------

def header(token: str) -> dict:
    return jws.extract_compact(token.encode()).headers()


def test_a_rotation_through_one_instance_reaches_the_other_within_its_refresh_interval(
        app, idp, database_url, store, smtp, tmp_path):
    """Two instances on one database, each with its own instance and keys folders (no shared
    filesystem) and the same secrets; the second checks for new keys every 5 s of its clock."""
    settings = app.extensions["idp"].settings
    other = create_app({"instance_path": str(tmp_path / "other-instance"), "keys_path": str(tmp_path / "other-keys"),
                        "database_url": database_url, "smtp_url": smtp.url, "store": store, "TESTING": True,
                        "secret_key": settings.secret_key, "data_key": settings.data_key,
                        "subject_salt": settings.subject_salt, "keys_refresh_seconds": 5})
    other_ring = other.extensions["idp"].keyring
    now = [other_ring.clock()]
    other_ring.clock = lambda: now[0]
    jwks = other.test_client().get("/oidc/jwks")
    assert jwks.status_code == 200 and jwks.json == {"keys": []}
    first = ok_json(idp("generate", "--alg", "ES256", "--json"))
    now[0] += 5
    assert [k["kid"] for k in other.test_client().get("/oidc/jwks").json["keys"]] == [first["kid"]]
    waiting = ok_json(idp("generate", "--alg", "ES256", "--json"))
    ok_json(idp("rotate", "--alg", "ES256", "--json"))
    assert header(other_ring.sign({"sub": "x"}, alg="ES256"))["kid"] == first["kid"]  # not asked yet
    now[0] += 5
    published = [k["kid"] for k in other.test_client().get("/oidc/jwks").json["keys"]]
    assert published[0] == waiting["kid"] and first["kid"] in published and len(published) == 3
    assert header(other_ring.sign({"sub": "x"}, alg="ES256"))["kid"] == waiting["kid"]
    assert not (tmp_path / "other-keys").exists()  # nothing on disk: the database is the key store
    other.extensions["idp"].db.dispose()


# --- import from the keys/ folder of an earlier version ------------------------------------------

def old_keys_folder(folder: Path, passphrase: bytes | None = None) -> dict:
    """The layout an earlier version wrote: keyring.json, <kid>.pem, and the SAML pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc.jwk import ECKey

    from idp.keyring import _self_signed

    folder.mkdir(parents=True)
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    entries = []
    for state, created in (("retired", 1_700_000_000), ("active", 1_700_100_000), ("next", 1_700_200_000)):
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        kid = ECKey.import_key(private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).thumbprint()
        (folder / f"{kid}.pem").write_bytes(pem)
        entries.append({"kid": kid, "alg": "ES256", "state": state, "created_at": created,
                        "activated_at": created if state != "next" else None,
                        "retired_at": 1_700_100_000 if state == "retired" else None})
    (folder / "keyring.json").write_text(json.dumps(entries))
    saml = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "saml-signing.key").write_bytes(
        saml.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    (folder / "saml-signing.crt").write_bytes(_self_signed(saml, "sso.example.gov.sa", 1_700_000_000))
    return {e["state"]: e["kid"] for e in entries}


def test_import_keeps_kids_states_and_the_saml_certificate(idp, services, tmp_path, db):
    kids = old_keys_folder(tmp_path / "old-keys", b"old pass")
    env = {"IDP_KEYS_PASSPHRASE": "old pass"}
    result = ok_json(idp("import", str(tmp_path / "old-keys"), "--json", env=env))
    assert set(kids.values()) < set(result["imported"]) and len(result["imported"]) == 4
    assert result["retired_on_import"] == result["already_present"] == []
    listed = {k["kid"]: k["state"] for k in ok_json(idp("list", "--json"))}
    assert listed == {kid: state for state, kid in kids.items()}
    ring = KeyRing(services.db, passphrase=b"old pass")
    assert ring.signing_key("ES256")[0] == kids["active"]
    certificate = (tmp_path / "old-keys" / "saml-signing.crt").read_bytes()
    assert ring.saml_signing()["certificate"] == certificate
    again = ok_json(idp("import", str(tmp_path / "old-keys"), "--json", env=env))
    assert again["imported"] == [] and len(again["already_present"]) == 4
    assert db.scalars(select(AuditEvent.kind)).all().count("admin.keys_imported") == 1


def test_import_into_a_database_that_already_signs_retires_what_it_brings(idp, services, tmp_path):
    kids = old_keys_folder(tmp_path / "old-keys")
    mine = ok_json(idp("generate", "--alg", "ES256", "--json"))
    result = ok_json(idp("import", str(tmp_path / "old-keys"), "--json"))
    assert result["retired_on_import"] == [kids["active"]] and kids["next"] in result["imported"]
    ring = KeyRing(services.db)
    assert ring.signing_key("ES256")[0] == mine["kid"]
    assert {kids["active"], kids["next"]} <= {k["kid"] for k in ring.jwks()["keys"]}  # still verify


@pytest.mark.parametrize("damage,expected", [
    ("metadata", "keyring.json: corrupted"),
    ("swap", "the file holds another key"),
    ("passphrase", "encrypted; set IDP_KEYS_PASSPHRASE"),
    ("missing", "no such folder"),
])
def test_import_refusals_are_one_line(idp, tmp_path, damage, expected):
    folder = tmp_path / "old-keys"
    kids = old_keys_folder(folder, b"p" if damage == "passphrase" else None)
    if damage == "metadata":
        (folder / "keyring.json").write_text("[{]")
    elif damage == "swap":
        (folder / f"{kids['active']}.pem").write_bytes((folder / f"{kids['next']}.pem").read_bytes())
    elif damage == "missing":
        folder = tmp_path / "nowhere"
    assert expected in error_line(idp("import", str(folder)))
