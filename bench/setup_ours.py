"""Our IdP ready for the bench, through the same services the CLI uses: a fresh schema, RS256 and
ES256 keys, a pool of registry people with active identities, each with TOTP turned on as a person
does it (idp.identity.mfa.enable_totp with a code of their app), one confidential client per
ID-token algorithm, and every identity's consent to both (so a signed-in code flow shows no consent
page). A pool, not one identity: a TOTP code is accepted once per time step per identity
(bench/totp_pool.py)."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

import pyotp
from sqlalchemy import text

REDIRECT_URI = "http://127.0.0.1/callback"  # never followed: the driver reads the code from Location
SCOPES = ["openid", "profile", "email"]
POOL_SIZE = 32  # identities: 64 sign-ins per 30 s step (bench/totp_pool.py) before any waits


def reset_schema(database) -> None:
    """Drop every table (the bench database is the bench's own), then migrate from scratch."""
    from idp.models import Base

    with database.engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    database.upgrade()


def prepare(settings_overrides: dict, identities: int = POOL_SIZE) -> dict:
    """Returns what the driver needs: the first identity's username and password (the reference
    provider's account has the same), per algorithm a client id and secret, and under "totp" every
    identity's username, password, TOTP secret and the time step its enrolment code spent."""
    from idp import create_app
    from idp.identity import accounts, mfa, totp
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
    prepared: dict = {"username": "bench.citizen", "password": password, "clients": {}, "totp": []}
    with services.db.session() as session:
        registered = []
        for alg in ("RS256", "ES256"):
            rp, secret = clients.register_oidc(session, name=f"Bench {alg}", redirect_uris=[REDIRECT_URI],
                                               scopes=SCOPES, id_token_alg=alg)
            registered.append(rp)
            prepared["clients"][alg] = {"client_id": rp.client_id, "client_secret": secret}
        for n in range(max(1, identities)):
            payload = f"1000{n:05d}"
            person = RegistryPerson(national_id=payload + check_digit(payload), birth_date=dt.date(1990, 3, 15),
                                    gender="M", name_ar="محمد عبدالله القحطاني",
                                    name_en="Mohammed Abdullah Alqahtani", nationality="SAU")
            session.add(person)
            session.flush()
            username = "bench.citizen" if n == 0 else f"bench.citizen{n}"
            identity = accounts.create(session, person, username, password,
                                       f"{username}@example.com", "0551234567", active=True)
            # Enrolled with the previous step's code (as the app showed it a moment ago), so the
            # current step's code is still unspent for the first sign-in.
            secret, at = totp.new_secret(), time.time() - totp.STEP_SECONDS
            mfa.enable_totp(session, services.store, services.fernet, identity, secret,
                            pyotp.TOTP(secret, interval=totp.STEP_SECONDS).at(at))
            for rp in registered:
                consent.grant(session, identity.id, rp.id, SCOPES)
            prepared["totp"].append({"username": username, "password": password, "secret": secret,
                                     "spent_step": int(at // totp.STEP_SECONDS)})
        session.commit()
    services.db.dispose()
    return prepared
