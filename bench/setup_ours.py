"""Our IdP ready for the bench, through the same services the CLI uses: a fresh schema, RS256 and
ES256 keys, one registry person with an active identity, one confidential client per ID-token
algorithm, and the citizen's consent to both (so a signed-in code flow shows no consent page)."""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlalchemy import text

REDIRECT_URI = "http://127.0.0.1/callback"  # never followed: the driver reads the code from Location
SCOPES = ["openid", "profile", "email"]


def reset_schema(database) -> None:
    """Drop every table (the bench database is the bench's own), then migrate from scratch."""
    from idp.models import Base

    with database.engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    database.upgrade()


def prepare(settings_overrides: dict) -> dict:
    """Returns what the driver needs: username, password, and per algorithm a client id and secret."""
    from idp import create_app
    from idp.identity import accounts
    from idp.identity.national_id import check_digit
    from idp.models import RegistryPerson
    from idp.oidc import clients, consent

    # The tables are dropped below: secrets recorded by an earlier run (another temporary
    # instance folder, so other secrets) must not stop this one.
    app = create_app(dict(settings_overrides), check_secrets=False)
    services = app.extensions["idp"]
    logging.disable(logging.INFO)  # Alembic's progress lines
    try:
        reset_schema(services.db)
    finally:
        logging.disable(logging.NOTSET)
    for alg in ("RS256", "ES256"):
        services.keyring.generate(alg)
    password = "Bench-" + secrets.token_urlsafe(18)
    prepared = {"username": "bench.citizen", "password": password, "clients": {}}
    with services.db.session() as session:
        payload = "100001234"
        person = RegistryPerson(national_id=payload + check_digit(payload), birth_date=dt.date(1990, 3, 15),
                                gender="M", name_ar="محمد عبدالله القحطاني",
                                name_en="Mohammed Abdullah Alqahtani", nationality="SAU")
        session.add(person)
        session.flush()
        identity = accounts.create(session, person, prepared["username"], password,
                                   "bench.citizen@example.com", "0551234567", active=True)
        for alg in ("RS256", "ES256"):
            rp, secret = clients.register_oidc(session, name=f"Bench {alg}", redirect_uris=[REDIRECT_URI],
                                               scopes=SCOPES, id_token_alg=alg)
            consent.grant(session, identity.id, rp.id, SCOPES)
            prepared["clients"][alg] = {"client_id": rp.client_id, "client_secret": secret}
        session.commit()
    services.db.dispose()
    return prepared
