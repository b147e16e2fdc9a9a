"""idp keys …: through the CLI, as an operator uses it."""
import json
import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from idp.cli import IdpGroup
from idp.cli.keys import group
from idp.keyring import KeyRing
from idp.models import AuditEvent


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
def keys_path(services):
    return services.settings.keys_path


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


def test_default_alg_is_rs256(idp, keys_path):
    made = ok_json(idp("generate", "--json"))
    assert made["alg"] == "RS256"
    assert KeyRing(keys_path).signing_key("RS256")[0] == made["kid"]


def test_rotate(idp, keys_path, db):
    old = ok_json(idp("generate", "--alg", "ES256", "--json"))
    waiting = ok_json(idp("generate", "--alg", "ES256", "--json"))
    rotated = ok_json(idp("rotate", "--alg", "ES256", "--json"))
    assert rotated["active"]["kid"] == waiting["kid"] and rotated["active"]["activated_at"]
    assert rotated["retired"]["kid"] == old["kid"] and rotated["retired"]["state"] == "retired"
    assert rotated["next"]["state"] == "next"
    assert KeyRing(keys_path).signing_key("ES256")[0] == waiting["kid"]
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


def test_wrong_passphrase_is_one_line(idp, keys_path):
    env = {"IDP_KEYS_PASSPHRASE": "right passphrase"}
    ok_json(idp("generate", "--alg", "ES256", "--json", env=env))
    waiting = ok_json(idp("generate", "--alg", "ES256", "--json", env=env))
    line = error_line(idp("rotate", "--alg", "ES256", env={"IDP_KEYS_PASSPHRASE": "wrong"}))
    assert f"{waiting['kid']}.pem" in line and "wrong IDP_KEYS_PASSPHRASE" in line
    assert ok_json(idp("rotate", "--alg", "ES256", "--json", env=env))["active"]["kid"] == waiting["kid"]


def test_corrupted_keyring_is_one_line(idp, keys_path):
    idp("generate", "--alg", "ES256")
    (KeyRing(keys_path).metadata_path).write_text("[{]")
    assert "keyring.json: corrupted" in error_line(idp("list"))


def test_generate_saml(idp, keys_path, services):
    made = ok_json(idp("generate-saml", "--json", env={"IDP_KEYS_PASSPHRASE": "saml pass"}))
    host = urlsplit(services.settings.issuer).hostname
    assert made["created"] and made["subject"] == f"CN={host}"
    cert_path, key_path = Path(keys_path) / "saml-signing.crt", Path(keys_path) / "saml-signing.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    fingerprint = x509.load_pem_x509_certificate(cert_path.read_bytes()).fingerprint(hashes.SHA256())
    assert made["sha256_fingerprint"] == fingerprint.hex(":").upper()
    again = idp("generate-saml")
    assert again.exit_code == 0 and "kept existing" in again.output and made["sha256_fingerprint"] in again.output
    forced = ok_json(idp("generate-saml", "--force", "--json"))
    assert forced["created"] and forced["sha256_fingerprint"] != made["sha256_fingerprint"]
    assert b"ENCRYPTED" not in key_path.read_bytes()


def test_generate_saml_half_pair_is_one_line(idp, keys_path):
    idp("generate-saml")
    (Path(keys_path) / "saml-signing.key").unlink()
    assert "--force" in error_line(idp("generate-saml"))
