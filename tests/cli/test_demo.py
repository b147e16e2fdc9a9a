"""idp demo setup: the registry's people it offers for registration have a mobile for the SMS code."""
import json

from sqlalchemy import func, select, update

from idp.identity.contact import normalise_mobile
from idp.models import RegistryPerson


def test_people_to_register_have_a_registry_mobile(runner, db, people):
    db.execute(update(RegistryPerson).values(mobile=None))  # as if seeded before mobiles existed
    db.commit()
    result = runner.invoke(args=["idp", "demo", "setup", "--json"])
    assert result.exit_code == 0, result.output
    offered = json.loads(result.output)["people_to_register"]
    assert offered and all(normalise_mobile(p["mobile"]) == p["mobile"] for p in offered)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(RegistryPerson).where(RegistryPerson.mobile.is_(None))) == 0
