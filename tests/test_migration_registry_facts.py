"""Migration 0112 on data: existing identities get the facts of their registry row, and lose the
foreign key into it; going down writes back the people only the identities knew."""
import datetime as dt

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from idp.db import alembic_config
from tests.conftest import make_national_id
from tests.test_migrations import _run, fresh  # noqa: F401 (the fixture: an empty database of each kind)

REVISION = "0112"
CITIZEN, RESIDENT = make_national_id("1", 6001), make_national_id("2", 6002)


def _before() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(REVISION).down_revision


def _fk_into_registry(engine) -> list:
    return [fk for fk in inspect(engine).get_foreign_keys("identities") if fk["referred_table"] == "registry_people"]


def _add_identity(connection, identity_id: int, national_id: str, **facts) -> None:
    columns = "".join(f", {name}" for name in facts)
    values = "".join(f", :{name}" for name in facts)
    connection.execute(text(
        "INSERT INTO identities (id, uuid, subject_seed, national_id, username, email, email_verified, "
        f"password_hash, password_changed_at, status, created_at{columns}) VALUES (:id, :uuid, :seed, :nid, "
        f":user, :email, true, 'hash', :now, 'active', :now{values})"),
        {"id": identity_id, "uuid": f"00000000-0000-0000-0000-{identity_id:012d}", "seed": str(identity_id),
         "nid": national_id, "user": f"user{identity_id}", "email": f"user{identity_id}@example.com",
         "now": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), **facts})


def test_existing_identities_take_their_registry_facts(fresh):  # noqa: F811
    _run(fresh, command.upgrade, _before())
    assert _fk_into_registry(fresh)
    with fresh.begin() as connection:
        connection.execute(text(
            "INSERT INTO registry_people (national_id, birth_date, gender, name_ar, name_en, nationality, mobile) "
            "VALUES (:nid, :born, 'F', 'سارة فهد الشمري', 'Sarah Fahad Alshammari', 'SAU', '+966500006001')"),
            {"nid": CITIZEN, "born": dt.date(1988, 2, 29)})
        _add_identity(connection, 1, CITIZEN)
    _run(fresh, command.upgrade, REVISION)
    assert _fk_into_registry(fresh) == []
    with fresh.begin() as connection:
        row = connection.execute(text(
            "SELECT name_ar, name_en, birth_date, gender, nationality, registry_checked_at, registry_mobile "
            "FROM identities WHERE id = 1")).one()
        assert (row.name_ar, row.name_en, str(row.birth_date), row.gender, row.nationality) == \
            ("سارة فهد الشمري", "Sarah Fahad Alshammari", "1988-02-29", "F", "SAU")
        assert row.registry_checked_at is not None and row.registry_mobile is None
        connection.execute(text("DELETE FROM registry_people"))  # the foreign key no longer stops it


def test_going_down_writes_back_the_people_only_identities_knew(fresh):  # noqa: F811
    _run(fresh, command.upgrade, REVISION)
    with fresh.begin() as connection:
        # Known only to an HTTP registry: no row in registry_people.
        _add_identity(connection, 2, RESIDENT, name_ar="أحمد خان", name_en="Ahmed Khan",
                      birth_date=dt.date(1985, 12, 31), gender="M", nationality="PAK",
                      registry_checked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    _run(fresh, command.downgrade, _before())
    assert _fk_into_registry(fresh)
    with fresh.begin() as connection:
        person = connection.execute(
            text("SELECT name_en, gender, mobile FROM registry_people WHERE national_id = :nid"),
            {"nid": RESIDENT}).one()
    assert tuple(person) == ("Ahmed Khan", "M", None)


@pytest.fixture(autouse=True)
def _sqlite_checks_foreign_keys(fresh):  # noqa: F811
    """make_engine turns SQLite's foreign keys on, as the app runs; the checks above rely on it."""
    if fresh.dialect.name == "sqlite":
        with fresh.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
