"""idp rp …: relying parties through the CLI, as an administrator uses it."""
import json

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select

from idp.models import AuditEvent, RelyingParty
from idp.oidc import clients

CALLBACK = "https://portal.example.gov.sa/oidc/callback"


def idp(runner, *args, input=None):
    return runner.invoke(args=["idp", "rp", *args], input=input)


def register(runner, *args):
    result = idp(runner, "register-oidc", "--name", "Ministry portal", "--redirect-uri", CALLBACK,
                 *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_one_line_error(result, message):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def events(db, kind):
    return [e.detail for e in db.scalars(select(AuditEvent).where(AuditEvent.kind == kind))]


@pytest.fixture
def jwks_file(tmp_path):
    def write(content):
        path = tmp_path / "jwks.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return str(path)
    return write


# --- register-oidc -----------------------------------------------------------------------

def test_register_confidential_client(runner, db):
    data = register(runner)
    assert data["client_id"] and len(data["client_secret"]) >= 43
    assert data["scopes"] == ["openid", "profile", "email"] and data["auth_method"] == "client_secret_basic"
    assert data["subject_type"] == "pairwise" and data["enabled"] is True
    rp = db.scalar(select(RelyingParty).where(RelyingParty.client_id == data["client_id"]))
    assert clients.secret_matches(rp, data["client_secret"]) and data["client_secret"] not in rp.secret_hash
    assert events(db, "rp.registered") == [{"client_id": data["client_id"], "admin": "cli"}]


def test_register_prints_the_secret_once_in_text(runner):
    result = idp(runner, "register-oidc", "--name", "Portal", "--redirect-uri", CALLBACK)
    assert result.exit_code == 0, result.output
    assert "client_id: " in result.output and "client_secret (shown once): " in result.output


def test_register_public_client_has_no_secret(runner):
    data = register(runner, "--auth-method", "none", "--scope", "openid", "--subject-type", "public",
                    "--id-token-alg", "ES256", "--require-loa2")
    assert "client_secret" not in data and data["has_client_secret"] is False
    assert data["scopes"] == ["openid"] and data["id_token_alg"] == "ES256" and data["require_loa2"]


def test_register_private_key_jwt_with_a_jwks_file(runner, jwks_file):
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    data = register(runner, "--auth-method", "private_key_jwt", "--jwks-file", jwks_file(jwks))
    assert "client_secret" not in data and data["jwks"] == jwks


def test_register_private_key_jwt_with_a_jwks_uri(runner):
    data = register(runner, "--auth-method", "private_key_jwt",
                    "--jwks-uri", "https://portal.example.gov.sa/jwks.json")
    assert "client_secret" not in data and data["jwks_uri"] == "https://portal.example.gov.sa/jwks.json"


def test_register_with_national_id(runner):
    data = register(runner, "--scope", "openid", "--scope", "national_id", "--allow-national-id",
                    "--post-logout-redirect-uri", "https://portal.example.gov.sa/bye")
    assert data["allow_national_id"] and data["scopes"] == ["openid", "national_id"]
    assert data["post_logout_redirect_uris"] == ["https://portal.example.gov.sa/bye"]


@pytest.mark.parametrize("args,message", [
    (["--redirect-uri", "http://portal.example.gov.sa/cb"], "https"),
    (["--redirect-uri", CALLBACK + "#top"], "fragment"),
    (["--redirect-uri", "/oidc/callback"], "absolute"),
    (["--redirect-uri", "https://*.example.gov.sa/cb"], "wildcard"),
    (["--post-logout-redirect-uri", "http://portal.example.gov.sa/bye"], "https"),
    (["--scope", "openid", "--scope", "address"], "unknown scope 'address'"),
    (["--scope", "profile"], "openid"),
    (["--scope", "openid", "--scope", "national_id"], "national_id"),
    (["--jwks-uri", "https://portal.example.gov.sa/jwks"], "only for private_key_jwt"),
    (["--auth-method", "private_key_jwt"], "exactly one of jwks or jwks_uri"),
    (["--auth-method", "private_key_jwt", "--jwks-uri", "http://portal.example.gov.sa/jwks"], "https"),
    (["--name", " "], "name"),
])
def test_register_refuses_bad_input_in_one_line(runner, db, args, message):
    base = ["--name", "Portal", "--redirect-uri", CALLBACK]
    if "--redirect-uri" in args:
        base = base[:2]
    if "--name" in args:
        base = base[2:]
    result = idp(runner, "register-oidc", *base, *args)
    assert_one_line_error(result, message)
    assert db.scalar(select(RelyingParty)) is None


@pytest.mark.parametrize("content,message", [
    (None, "cannot read"),
    ("{not json", "not a JSON file"),
    ({"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}, "private key material"),
    ({"keys": "nope"}, "JSON object"),
])
def test_register_refuses_a_bad_jwks_file_in_one_line(runner, jwks_file, tmp_path, content, message):
    path = str(tmp_path / "missing.json") if content is None else jwks_file(content)
    result = idp(runner, "register-oidc", "--name", "Portal", "--redirect-uri", CALLBACK,
                 "--auth-method", "private_key_jwt", "--jwks-file", path)
    assert_one_line_error(result, message)


def test_jwks_file_with_a_secret_method_is_refused(runner, jwks_file):
    path = jwks_file({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]})
    result = idp(runner, "register-oidc", "--name", "Portal", "--redirect-uri", CALLBACK, "--jwks-file", path)
    assert_one_line_error(result, "only for private_key_jwt")


# --- administration ----------------------------------------------------------------------

def test_list_and_show(runner):
    client_id = register(runner)["client_id"]
    listed = json.loads(idp(runner, "list", "--json").output)
    assert [r["client_id"] for r in listed] == [client_id]
    assert all("secret" not in key or key == "has_client_secret" for key in listed[0])
    shown = json.loads(idp(runner, "show", client_id, "--json").output)
    assert shown == listed[0]
    assert client_id in idp(runner, "list").output


def test_disable_and_enable(runner, db, services):
    client_id = register(runner)["client_id"]
    metadata = clients.ClientMetadata(services.db.session)
    result = idp(runner, "disable", client_id, "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"id": client_id, "enabled": False}
    assert client_id not in metadata
    assert idp(runner, "enable", client_id).exit_code == 0
    assert client_id in metadata
    assert events(db, "rp.disabled") == events(db, "rp.enabled") == [{"client_id": client_id, "admin": "cli"}]


def test_rotate_secret(runner, db):
    old = register(runner)
    result = idp(runner, "rotate-secret", old["client_id"], "--json")
    assert result.exit_code == 0, result.output
    new = json.loads(result.output)["client_secret"]
    rp = db.scalar(select(RelyingParty).where(RelyingParty.client_id == old["client_id"]))
    assert clients.secret_matches(rp, new) and not clients.secret_matches(rp, old["client_secret"])
    assert events(db, "rp.secret_rotated") == [{"client_id": old["client_id"], "admin": "cli"}]
    assert all(new not in str(e.detail) for e in db.scalars(select(AuditEvent)))


def test_rotate_secret_of_a_public_client_is_refused(runner):
    client_id = register(runner, "--auth-method", "none")["client_id"]
    assert_one_line_error(idp(runner, "rotate-secret", client_id), "no client secret")


def test_remove_asks_first(runner, db):
    client_id = register(runner)["client_id"]
    assert idp(runner, "remove", client_id, input="n\n").exit_code == 1
    assert idp(runner, "show", client_id).exit_code == 0
    result = idp(runner, "remove", client_id, "--yes", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"id": client_id, "removed": True}
    assert_one_line_error(idp(runner, "show", client_id), "no relying party")
    assert events(db, "rp.removed") == [{"client_id": client_id, "admin": "cli"}]


@pytest.mark.parametrize("command", [["show"], ["disable"], ["enable"], ["rotate-secret"], ["remove", "--yes"]])
def test_unknown_client_in_one_line(runner, command):
    result = idp(runner, command[0], "no-such-client", *command[1:])
    assert_one_line_error(result, "no-such-client")
