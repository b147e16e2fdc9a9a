"""The framework-free services one app instance runs on, built once from its settings."""
from __future__ import annotations

import dataclasses

from cryptography.fernet import MultiFernet

from idp.db import Database
from idp.identity.registry import CivilRegistry
from idp.identity.registry_client import registry_from_settings
from idp.keyring import KeyRing
from idp.mail import Mailer
from idp.outbox import Outbox
from idp.settings import Settings
from idp.shared_secrets import data_fernet
from idp.store import Store, make_store


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    store: Store
    mailer: Mailer
    fernet: MultiFernet  # encrypts under IDP_DATA_KEY, decrypts under it or IDP_DATA_KEYS_OLD
    keyring: KeyRing
    registry: CivilRegistry  # IDP_REGISTRY: the imported table or the state's service (idp/identity/registry_client.py)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> Services:
        database, fernet = Database(settings.database_url), data_fernet(settings)
        return cls(
            settings=settings,
            db=database,
            store=store if store is not None else make_store(settings.redis_url),
            # mail waits in the database's outbox until a sender delivers it (idp/outbox.py)
            mailer=Mailer.from_settings(settings, Outbox(database, fernet, settings.mail_max_attempts,
                                                               first_retry=settings.mail_first_retry_seconds)),
            fernet=fernet,
            # Retired keys stay published while ID tokens they signed may still be presented.
            keyring=KeyRing.from_settings(settings, database, retention_seconds=max(
                24 * 3600, settings.oidc_id_token_seconds, settings.oidc_refresh_token_hours * 3600)),
            registry=registry_from_settings(settings, database),
        )
