"""The Alembic migrations build exactly the schema idp/models.py declares (autogenerate finds no
difference), as one linear chain that also goes down to nothing and back up.

Runs on SQLite and, with IDP_TEST_DATABASE_URL, on PostgreSQL — there in a schema of its own, so
the suite's migrated database is left alone while this test takes its copy down and up."""
from __future__ import annotations

import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from idp.db import alembic_config, make_engine
from idp.models import Base

TEST_DATABASE_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh(request, tmp_path):
    """An engine on an empty database of each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite3'}")
        yield engine
        engine.dispose()
        return
    if not TEST_DATABASE_URL:
        pytest.skip("IDP_TEST_DATABASE_URL is not set")
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(TEST_DATABASE_URL, poolclass=NullPool,
                           connect_args={"options": f"-c search_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(engine: Engine, step, revision: str) -> None:
    """An Alembic command on this engine's database, the way `idp db upgrade` runs it."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
        connection.commit()


def _differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_one_head_and_a_linear_chain():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    assert len(script.get_bases()) == 1, f"more than one base: {script.get_bases()}"
    chain = list(script.walk_revisions())  # head first, down to the base
    for newer, older in zip(chain, chain[1:], strict=False):
        assert newer.down_revision == older.revision, f"{newer.revision} does not follow {older.revision}"
    assert chain[-1].down_revision is None
    every = {r.revision for r in script.revision_map.iterate_revisions("heads", "base")}
    assert every == {r.revision for r in chain}, "a revision lies off the chain"


def test_the_migrations_build_what_the_models_declare(fresh):
    _run(fresh, command.upgrade, "head")
    assert _differences(fresh) == []
    assert _tables(fresh) == set(Base.metadata.tables)


def test_down_to_nothing_and_up_again(fresh):
    _run(fresh, command.upgrade, "head")
    _run(fresh, command.downgrade, "-1")
    assert _differences(fresh) != [], "the comparison sees a missing revision"
    _run(fresh, command.downgrade, "base")
    assert _tables(fresh) == set()
    _run(fresh, command.upgrade, "head")
    assert _differences(fresh) == []
