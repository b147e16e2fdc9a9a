"""The overrides of pyop in idp/oidc/engine.py that no flow test reaches, through the provider's
public methods. The table in engine.py's docstring names the test of every override; pyop and oic
are pinned exactly (setup.cfg), so an upgrade is a deliberate change that reruns these."""
import pytest
from oic.oauth2.message import SchemeError
from pyop.exceptions import InvalidSubjectIdentifier

from idp.oidc.engine import LoopbackProviderConfiguration


@pytest.fixture
def provider(app):
    return app.extensions["idp.oidc"]


def test_nothing_maps_a_sub_back_to_an_identity(provider):
    with pytest.raises(InvalidSubjectIdentifier):
        provider.authz_state.get_user_id_for_subject_identifier("a-subject")


def test_state_is_never_deleted_by_subject(provider):
    with pytest.raises(NotImplementedError):
        provider.authz_state.delete_state_for_subject_identifier("a-subject")


def test_an_http_issuer_on_loopback_only(provider):
    metadata = provider.configuration_information.to_dict()
    assert metadata["issuer"] == "http://127.0.0.1:5000"
    assert LoopbackProviderConfiguration(**metadata).verify()
    for issuer in ("http://idp.example.gov.sa", "http://127.0.0.1.example.net"):
        with pytest.raises(SchemeError):
            LoopbackProviderConfiguration(**dict(metadata, issuer=issuer)).verify()


def test_subjects_public_or_pairwise(provider):
    state = provider.authz_state
    public = state.get_subject_identifier("public", "seed-1")
    assert public == state.get_subject_identifier("public", "seed-1") != "seed-1"
    assert state.get_subject_identifier("pairwise", "seed-1", "a.example") != \
        state.get_subject_identifier("pairwise", "seed-1", "b.example")
    with pytest.raises(ValueError):
        state.get_subject_identifier("pairwise", "seed-1")  # no sector
