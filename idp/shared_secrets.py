"""The secrets every instance must share, and the checks that keep them shared.

- `secret_key` signs CSRF tokens; `subject_salt` makes pairwise `sub` (OIDC Core 1.0 §8.1) and
  persistent NameIDs (SAML Core §8.3.7); `data_key` (and `data_keys_old`) encrypts TOTP secrets;
  IDP_KEYS_PASSPHRASE encrypts the private signing keys in the database.
- The subject salt (idp/subject_salt.py) is never rotated and has nothing to do with the data key,
  so the data key can be rotated (`idp secrets rotate-data-key`) without changing any identifier.
- The first instance records a fingerprint of each (table secret_fingerprints): HMAC-SHA256 keyed
  by the secret over the setting's name and a random salt, so the row tells nothing about the
  secret (the passphrase, which a person may have chosen, is stretched with scrypt first). An
  instance whose secrets differ refuses to start, with one line naming the setting.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String, cast, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from idp.errors import ConfigError
from idp.models import Identity, SecretFingerprint, utcnow
from idp.subject_salt import legacy_salts

log = logging.getLogger(__name__)

SETTING = {"secret_key": "IDP_SECRET_KEY", "subject_salt": "IDP_SUBJECT_SALT", "data_key": "IDP_DATA_KEY",
           "keys_passphrase": "IDP_KEYS_PASSPHRASE"}


# --- the data key -------------------------------------------------------------------------------

def data_fernet(settings) -> MultiFernet:
    """Encrypts under IDP_DATA_KEY; decrypts under it or any of IDP_DATA_KEYS_OLD."""
    return MultiFernet([Fernet(key.encode()) for key in [settings.data_key, *settings.old_data_keys]])


def rotate_data_key(database, settings, batch_size: int = 500) -> dict:
    """Re-encrypt every TOTP secret under IDP_DATA_KEY, then record that key as the one in use.

    Idempotent and resumable: a secret already under the current key is left alone, each batch is
    committed, and a row changed meanwhile (compare-and-set on the old value) is picked up by the
    final pass, which refuses to record the new key while any secret is still under another."""
    current, accepted = Fernet(settings.data_key.encode()), data_fernet(settings)
    re_encrypted = already = 0
    unreadable: list[int] = []
    last_id = 0
    while True:
        with database.session() as session:
            rows = session.execute(select(Identity.id, Identity.totp_secret)
                                   .where(Identity.id > last_id, Identity.totp_secret.is_not(None))
                                   .order_by(Identity.id).limit(batch_size)).all()
            for identity_id, token in rows:
                if _decrypts(current, token):
                    already += 1
                    continue
                try:
                    rotated = accepted.rotate(token.encode()).decode()
                except InvalidToken:
                    unreadable.append(identity_id)
                    continue
                re_encrypted += session.execute(
                    update(Identity).where(Identity.id == identity_id, Identity.totp_secret == token)
                    .values(totp_secret=rotated)).rowcount
            session.commit()
        if len(rows) < batch_size:
            break
        last_id = rows[-1][0]
    if unreadable:
        raise ConfigError(f"{len(unreadable)} TOTP secret(s) cannot be decrypted with IDP_DATA_KEY or "
                          f"IDP_DATA_KEYS_OLD (identities {', '.join(map(str, unreadable[:10]))}); "
                          "add the key they were encrypted with to IDP_DATA_KEYS_OLD and run again")
    behind = _count_not_under(database, current)
    if behind:
        raise ConfigError(f"{behind} TOTP secret(s) were written under another key during the rotation: "
                          "make sure every instance has the new IDP_DATA_KEY, then run again")
    with database.session() as session:
        _record(session, "data_key", settings.data_key.encode(), replace=True)
        session.commit()
    return {"re_encrypted": re_encrypted, "already_current": already}


def _decrypts(fernet: Fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def _count_not_under(database, current: Fernet) -> int:
    with database.session() as session:
        tokens = session.scalars(select(Identity.totp_secret).where(Identity.totp_secret.is_not(None)))
        return sum(1 for token in tokens if not _decrypts(current, token))


# --- fingerprints -------------------------------------------------------------------------------

def accepted_values(settings, passphrase: bytes | None) -> dict[str, list[bytes]]:
    """For each shared secret, the values this instance would accept as "the same": the data key
    matches the recorded one while it is IDP_DATA_KEY or one of IDP_DATA_KEYS_OLD (mid-rotation)."""
    return {
        "secret_key": [settings.secret_key.encode()],
        "subject_salt": [settings.subject_salt.encode()],
        "data_key": [settings.data_key.encode()] + [key.encode() for key in settings.old_data_keys],
        "keys_passphrase": [passphrase or b""],
    }


def check(database, settings, passphrase: bytes | None, _retry: bool = True) -> bool:
    """Refuse (ConfigError, one line) when a shared secret differs from the recorded one; record the
    ones not recorded yet. False when the database cannot tell (unreachable, or not migrated yet:
    `idp db upgrade` checks again)."""
    values = accepted_values(settings, passphrase)
    try:
        with database.session() as session:
            recorded = {row.name: row for row in session.scalars(select(SecretFingerprint))}
            for name, row in recorded.items():
                if name in values and not any(_matches(row, value) for value in values[name]):
                    raise ConfigError(_differs(name, row))
            if "subject_salt" not in recorded:
                _refuse_new_salt_for_old_identifiers(session, settings)
            if "data_key" not in recorded:
                _refuse_a_data_key_that_reads_nothing(session, settings)
            for name in values.keys() - recorded.keys():
                _record(session, name, values[name][0])
            session.commit()
    except IntegrityError:  # another instance recorded them at the same moment: compare with its
        if _retry:
            return check(database, settings, passphrase, _retry=False)
        raise
    except SQLAlchemyError as e:
        log.warning("shared secrets not checked: the database cannot tell (%s)", type(e).__name__)
        return False
    return True


def _differs(name: str, row: SecretFingerprint) -> str:
    since = row.recorded_at.strftime("%Y-%m-%d")
    if name == "data_key":
        return (f"IDP_DATA_KEY: neither it nor IDP_DATA_KEYS_OLD holds the data key the other instances "
                f"use (recorded {since})")
    return f"{SETTING[name]}: differs from the value the other instances use (recorded {since})"


def _refuse_new_salt_for_old_identifiers(session, settings) -> None:
    """Identities made before the subject salt existed (subject seed = their decimal id) had their
    identifiers derived from the data key: a fresh salt would silently change them all."""
    if legacy_salts(settings.subject_salt) is not None:
        return
    if session.scalar(select(Identity.id).where(Identity.subject_seed == cast(Identity.id, String)).limit(1)):
        raise ConfigError("IDP_SUBJECT_SALT: identities made before this version exist; set it to the output "
                          "of `idp secrets subject-salt --from-data-key` so their sub and NameID do not change")


def _refuse_a_data_key_that_reads_nothing(session, settings) -> None:
    """Recording a data key for the first time (an upgrade): it must read what is already stored."""
    sample = session.scalar(select(Identity.totp_secret).where(Identity.totp_secret.is_not(None)).limit(1))
    if sample is not None:
        try:
            data_fernet(settings).decrypt(sample.encode())
        except InvalidToken:
            raise ConfigError("IDP_DATA_KEY: neither it nor IDP_DATA_KEYS_OLD decrypts the TOTP secrets "
                              "already in the database") from None


def _digest(name: str, salt: str, value: bytes) -> str:
    if name == "keys_passphrase" and value:  # chosen by a person: make guessing it from the row costly
        value = hashlib.scrypt(value, salt=bytes.fromhex(salt), n=2 ** 14, r=8, p=1, dklen=32)
    return hmac.new(value, name.encode() + b"\0" + bytes.fromhex(salt), hashlib.sha256).hexdigest()


def _matches(row: SecretFingerprint, value: bytes) -> bool:
    return hmac.compare_digest(_digest(row.name, row.salt, value), row.digest)


def _record(session, name: str, value: bytes, replace: bool = False) -> None:
    salt = secrets.token_hex(16)
    row = session.get(SecretFingerprint, name) if replace else None
    if row is None:
        session.add(SecretFingerprint(name=name, salt=salt, digest=_digest(name, salt, value)))
    else:
        row.salt, row.digest, row.recorded_at = salt, _digest(name, salt, value), utcnow()
