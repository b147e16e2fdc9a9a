"""Identities keep the civil registry's facts they were verified against: with the local registry
table emptied (as under IDP_REGISTRY=http), every claim, the account page and `idp user show`
still read them from the identity."""
import json

import pytest
from sqlalchemy import delete, func, select

from idp import attributes
from idp.models import Identity, RegistryPerson


@pytest.fixture
def made(identities, people, db):
    made = identities.make(people["citizen"], username="mohammed.q")
    db.execute(delete(RegistryPerson))
    db.commit()
    assert db.scalar(select(func.count()).select_from(RegistryPerson)) == 0
    db.expire_all()
    return made


def test_the_identity_keeps_the_facts_it_was_created_with(made, db, people):
    identity = db.get(Identity, made.identity.id)
    assert (identity.name_ar, identity.name_en, identity.birth_date.isoformat(), identity.gender,
            identity.nationality, identity.id_type) == \
        ("محمد عبدالله القحطاني", "Mohammed Abdullah Alqahtani", "1990-03-15", "M", "SAU", "citizen")
    assert identity.registry_checked_at is not None
    assert identity.registry_mobile is None  # made by the services directly: no SMS code proved a mobile


def test_claims_and_attributes_need_no_registry_row(made, db):
    identity = db.get(Identity, made.identity.id)
    claims = attributes.oidc_claims(identity, ["openid", "profile", "national_id"], allow_national_id=True)
    assert claims["name#en"] == "Mohammed Abdullah Alqahtani" and claims["birthdate"] == "1990-03-15"
    assert claims["gender"] == "male" and claims["national_id"] == identity.national_id
    saml = attributes.saml_attributes(identity, allow_national_id=False)
    assert [values for name, values in saml.items() if name.endswith("nameAr")] == [["محمد عبدالله القحطاني"]]


def test_the_account_page_needs_no_registry_row(made, web):
    assert web.login(made.username, made.password).status_code == 302
    page = web.get("/account").get_data(as_text=True)
    assert "Mohammed Abdullah Alqahtani" in page and "محمد عبدالله القحطاني" in page


def test_user_show_needs_no_registry_row(made, runner):
    result = runner.invoke(args=["idp", "user", "show", made.username, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["name_en"], shown["id_type"]) == ("Mohammed Abdullah Alqahtani", "citizen")

