"""idp rp register-saml, and the other idp rp commands on a SAML service provider."""
import json

import pytest
from sqlalchemy import select

from idp.models import RelyingParty
from idp.saml import sps
from tests.cli.test_rp import assert_one_line_error, events, idp
from tests.saml.sp_metadata import ACS, ENTITY_ID, SpMetadata

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture(scope="session")
def sp_metadata(tmp_path_factory):
    return SpMetadata(tmp_path_factory.mktemp("sp-metadata"))


@pytest.fixture
def metadata_file(tmp_path, sp_metadata):
    """Writes metadata (by default a valid SP's) to a file and returns its path."""
    def write(content=None, name="sp-metadata.xml"):
        path = tmp_path / name
        content = sp_metadata.make() if content is None else content
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)
    return write


def register(runner, path, *args):
    result = idp(runner, "register-saml", "--name", "Masar (SAML)", "--metadata", path, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --- register-saml -----------------------------------------------------------------------

def test_register_saml(runner, db, metadata_file):
    data = register(runner, metadata_file(), "--allow-national-id", "--require-loa2", "--require-signed-requests")
    assert data["entity_id"] == ENTITY_ID and data["protocol"] == "saml" and data["client_id"] is None
    assert data["allow_national_id"] and data["require_loa2"] and data["require_signed_requests"]
    assert data["acs_urls"] == [ACS] and data["wants_encryption"] is True and data["enabled"] is True
    rp = db.scalar(select(RelyingParty).where(RelyingParty.entity_id == ENTITY_ID))
    assert rp.name == "Masar (SAML)" and sps.enabled_metadata(db) == [(ENTITY_ID, rp.saml_metadata)]
    assert events(db, "rp.registered") == [{"entity_id": ENTITY_ID, "admin": "cli"}]


def test_register_saml_prints_the_entity_id_in_text(runner, metadata_file):
    result = idp(runner, "register-saml", "--name", "Masar (SAML)", "--metadata", metadata_file())
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["registered Masar (SAML)", f"entity_id: {ENTITY_ID}"]


def _not_https(m):
    return m.make(acs=[("http://sp.example.gov.sa/saml/acs", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")])


@pytest.mark.parametrize("make,args,message", [
    pytest.param(lambda m: m.make()[:-40], [], "not well-formed XML", id="malformed"),
    pytest.param(lambda m: m.make().replace(f'xmlns:ns0="{MD}"', 'xmlns:ns0="urn:example:md"'), [],
                 "root must be md:EntityDescriptor", id="unknown namespace"),
    pytest.param(lambda m: '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + m.make(), [], "DOCTYPE",
                 id="XXE"),
    pytest.param(lambda m: m.make_idp(), [], "no md:SPSSODescriptor", id="IdP metadata"),
    pytest.param(_not_https, [], "AssertionConsumerService Location must use https", id="non-https ACS"),
    pytest.param(lambda m: m.make(cert_file=m.certificate("old.pem", expired=True)), [], "expired",
                 id="expired certificate"),
    pytest.param(lambda m: m.make(signing=False), ["--require-signed-requests"], "no signing certificate",
                 id="signed requests without a signing key"),
    pytest.param(lambda m: m.make().replace("<ns0:Extensions>", "<ns0:Extensions><!--" + "x" * 600_000 + "-->"),
                 [], "larger than 512 KiB", id="oversize"),
])
def test_register_saml_refuses_bad_metadata_in_one_line(runner, db, sp_metadata, metadata_file, make, args,
                                                        message):
    result = idp(runner, "register-saml", "--name", "Portal", "--metadata", metadata_file(make(sp_metadata)), *args)
    assert_one_line_error(result, message)
    assert db.scalar(select(RelyingParty)) is None


@pytest.mark.parametrize("path,message", [
    pytest.param(lambda tmp: str(tmp / "missing.xml"), "cannot read", id="missing"),
    pytest.param(lambda tmp: str(tmp), "cannot read", id="a directory"),
])
def test_register_saml_refuses_an_unreadable_file_in_one_line(runner, tmp_path, path, message):
    result = idp(runner, "register-saml", "--name", "Portal", "--metadata", path(tmp_path))
    assert_one_line_error(result, message)


def test_register_saml_twice_is_refused_in_one_line(runner, db, metadata_file):
    register(runner, metadata_file())
    result = idp(runner, "register-saml", "--name", "Again", "--metadata", metadata_file())
    assert_one_line_error(result, f"entityID {ENTITY_ID} is already registered")
    assert len(db.scalars(select(RelyingParty)).all()) == 1


# --- administration of a SAML SP ---------------------------------------------------------

def test_list_and_show_a_saml_sp(runner, metadata_file):
    registered = register(runner, metadata_file())
    listed = json.loads(idp(runner, "list", "--json").output)
    shown = json.loads(idp(runner, "show", ENTITY_ID, "--json").output)
    assert shown == listed[0]
    # created_at is left out: SQLite gives back the instant without its UTC offset.
    assert {k: v for k, v in shown.items() if k != "created_at"} == \
        {k: v for k, v in registered.items() if k != "created_at"}
    assert f"{ENTITY_ID}  saml  enabled  Masar (SAML)" in idp(runner, "list").output
    assert f"entity_id: {ENTITY_ID}" in idp(runner, "show", ENTITY_ID).output


def test_disable_and_enable_a_saml_sp(runner, db, metadata_file):
    register(runner, metadata_file())
    result = idp(runner, "disable", ENTITY_ID, "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"id": ENTITY_ID, "enabled": False}
    assert sps.enabled_metadata(db) == []
    assert idp(runner, "enable", ENTITY_ID).exit_code == 0
    assert [entity_id for entity_id, _ in sps.enabled_metadata(db)] == [ENTITY_ID]
    assert events(db, "rp.disabled") == events(db, "rp.enabled") == [{"entity_id": ENTITY_ID, "admin": "cli"}]


def test_remove_a_saml_sp(runner, db, metadata_file):
    register(runner, metadata_file())
    result = idp(runner, "remove", ENTITY_ID, "--yes", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"id": ENTITY_ID, "removed": True}
    assert sps.find_saml(db, ENTITY_ID) is None
    assert events(db, "rp.removed") == [{"entity_id": ENTITY_ID, "admin": "cli"}]


def test_a_saml_sp_has_no_secret_to_rotate(runner, metadata_file):
    register(runner, metadata_file())
    assert_one_line_error(idp(runner, "rotate-secret", ENTITY_ID), "no OpenID Connect relying party")
