"""Registration races (issue 8): the loser is told what was taken."""
import pytest
from sqlalchemy import event

from idp.errors import Conflict
from idp.identity import accounts
from tests.conftest import STRONG_PASSWORD


def _competitor_before_flush(services, db, person, username):
    """Insert and commit the competing identity from another session, between the checks and the flush."""
    def compete(_session, _context, _instances):
        with services.db.session() as other:
            accounts.create(other, person, username, STRONG_PASSWORD, f"{username}@example.com", None)
            other.commit()

    event.listen(db, "before_flush", compete, once=True)


def test_a_username_taken_in_a_race(services, db, people):
    _competitor_before_flush(services, db, people["citizen2"], "popular.name")
    with pytest.raises(accounts.FieldErrors) as raised:
        accounts.create(db, people["citizen"], "popular.name", STRONG_PASSWORD, "me@example.com", None)
    assert raised.value.errors == {"username": "This username is taken; choose another."}


def test_the_same_person_registering_twice_at_once(services, db, people):
    _competitor_before_flush(services, db, people["citizen"], "first.try")
    with pytest.raises(Conflict) as raised:
        accounts.create(db, people["citizen"], "second.try", STRONG_PASSWORD, "me@example.com", None)
    assert "already exists" in raised.value.message
