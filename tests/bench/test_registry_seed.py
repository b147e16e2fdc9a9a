"""Speed of filling the civil registry: `seed` (synthetic people) and `import_csv` (the registry's
export), 100,000 people a round, on the test database (SQLite, or IDP_TEST_DATABASE_URL).
Run with `make bench`; rows/s goes into each result's extra_info. No time limits, only numbers."""
import csv

import pytest
from sqlalchemy import delete, select

from idp.identity.registry import COLUMNS, import_csv, seed
from idp.models import RegistryPerson

PEOPLE = 100_000

pytestmark = pytest.mark.bench


def empty(database):
    with database.engine.begin() as connection:
        connection.execute(delete(RegistryPerson))


@pytest.fixture
def database(migrated_database):
    empty(migrated_database)
    yield migrated_database
    empty(migrated_database)


@pytest.fixture
def registry_csv(database, tmp_path):
    """The registry's export, as `idp registry import` reads it: PEOPLE seeded people."""
    seed(database, PEOPLE, seed=2)
    path = tmp_path / "registry.csv"
    columns = [getattr(RegistryPerson, column) for column in COLUMNS]
    with database.engine.connect() as connection, path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in connection.execute(select(*columns)):
            writer.writerow([row[0], row[1].isoformat(), *row[2:]])
    empty(database)
    return path


def report(benchmark, rows):
    rate = rows / benchmark.stats.stats.mean
    benchmark.extra_info["rows_per_second"] = round(rate)
    print(f"\n{benchmark.name}: {rows:,} rows, {rate:,.0f} rows/s")


def test_seed(benchmark, database):
    def fresh():
        empty(database)
        return (database, PEOPLE), {"seed": 1}

    assert benchmark.pedantic(seed, setup=fresh, rounds=3) == PEOPLE
    report(benchmark, PEOPLE)


def test_import(benchmark, database, registry_csv):
    def fresh():
        empty(database)
        return (database, registry_csv), {}

    result = benchmark.pedantic(import_csv, setup=fresh, rounds=3)
    assert result.inserted == PEOPLE
    report(benchmark, PEOPLE)


def test_reimport_updates_everyone(benchmark, database, registry_csv):
    import_csv(database, registry_csv)
    result = benchmark.pedantic(import_csv, args=(database, registry_csv), rounds=3)
    assert result.updated == PEOPLE
    report(benchmark, PEOPLE)
