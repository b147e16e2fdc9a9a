"""idp registry …: the built-in civil registry — import the registry's export, seed synthetic
people for demos and load tests, look a person up."""
from __future__ import annotations

import dataclasses
import sys

import click

from idp import audit
from idp.cli import emit, json_option, services
from idp.errors import ConfigError, NotFound
from idp.identity import national_id
from idp.identity.registry import import_csv, seed


@click.group("registry")
def group():
    """The civil registry (people, not identities)."""


@group.command("import")
@click.argument("file")
@json_option
def import_(file, as_json):
    """Add or update the people in FILE (CSV; - for standard input), all or none.

    Header: national_id,birth_date,gender,name_ar,name_en,nationality[,mobile]. UTF-8; birth_date
    Gregorian YYYY-MM-DD; gender M or F; nationality ISO 3166-1 alpha-3; mobile (optional) a Saudi
    mobile number, where registration sends its one-time code."""
    source = sys.stdin.buffer if file == "-" else file
    database = _built_in_registry()
    result = import_csv(database, source)
    _audit(database, "registry_imported")
    emit(dataclasses.asdict(result), as_json,
         f"{result.rows} people: {result.inserted} added, {result.updated} updated")


@group.command("seed")
@click.option("--count", type=click.IntRange(1, 10_000_000), required=True,
              help="How many people to add.")
@click.option("--seed", "seed_value", type=int, default=None,
              help="Random seed: the same seed on the same database adds the same people.")
@json_option
def seed_(count, seed_value, as_json):
    """Add synthetic people with valid national IDs (for demos and load tests only)."""
    database = _built_in_registry()
    added = seed(database, count, seed=seed_value)
    _audit(database, "registry_seeded")
    emit({"added": added}, as_json, f"{added} people added")


@group.command("show")
@click.argument("national_id_text", metavar="NATIONAL_ID")
@json_option
def show(national_id_text, as_json):
    """Show what the registry holds for NATIONAL_ID (personal data: administrators only). Asks the
    configured registry, the table or the service (IDP_REGISTRY)."""
    nid = national_id.parse(national_id_text)
    database = services().db
    person = services().registry.find(nid)
    if person is None:
        raise NotFound("no person with that national ID in the civil registry")
    _audit(database, "registry_viewed")
    data = {"national_id": person.national_id, "id_type": person.id_type,
            "name_ar": person.name_ar, "name_en": person.name_en,
            "birth_date": person.birth_date.isoformat(), "gender": person.gender,
            "nationality": person.nationality, "mobile": person.mobile}
    emit(data, as_json, "\n".join(f"{key:<12} {value}" for key, value in data.items()))


def _built_in_registry():
    """The database whose registry_people table is the registry; refused when it is not in use."""
    if services().settings.registry != "database":
        raise ConfigError("IDP_REGISTRY is http: the civil registry is the service at IDP_REGISTRY_URL, "
                          "not the registry_people table")
    return services().db


def _audit(database, action: str) -> None:
    with database.session() as session:
        audit.admin_action(session, audit.CLI, None, action)
        session.commit()
