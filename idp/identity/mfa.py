"""The second factor: TOTP (RFC 6238) and single-use recovery codes (NIST SP 800-63B §5.1.2).

A recovery code stands in for the authenticator when it is lost; each works once and all are
replaced when new ones are made or the second factor is reset.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.errors import N_, ValidationError
from idp.identity import totp
from idp.models import Identity, RecoveryCode, utcnow
from idp.store import Store

RECOVERY_CODE_COUNT = 10


def enable_totp(session: Session, store: Store, fernet: Fernet | MultiFernet, identity: Identity, secret: str,
                code: str) -> list[str]:
    """Turn TOTP on once the person proved their app has `secret`; returns new recovery codes."""
    if not totp.verify_totp(session, identity.uuid, secret, code):
        raise ValidationError(N_("That code is not correct. Check the time on your phone and try "
                                 "the newest code."), field="otp")
    identity.totp_secret = totp.encrypt_secret(fernet, secret)
    identity.totp_enabled_at = utcnow()
    return regenerate_recovery_codes(session, identity)


def disable_totp(session: Session, identity: Identity) -> None:
    identity.totp_secret = None
    identity.totp_enabled_at = None
    identity.recovery_codes.clear()
    session.flush()


def regenerate_recovery_codes(session: Session, identity: Identity) -> list[str]:
    codes = totp.generate_recovery_codes(RECOVERY_CODE_COUNT)
    identity.recovery_codes.clear()
    session.flush()
    identity.recovery_codes.extend(RecoveryCode(code_hash=totp.hash_recovery_code(c)) for c in codes)
    session.flush()
    return codes


def unused_recovery_codes(identity: Identity) -> int:
    return sum(1 for c in identity.recovery_codes if c.used_at is None)


def verify(session: Session, store: Store, fernet: Fernet | MultiFernet, identity: Identity, code: str) -> str | None:
    """Check a second-factor code: "otp" or "recovery" for the kind that matched, else None."""
    code = (code or "").strip()
    if not identity.has_totp or not code or len(code) > 32:
        return None
    # TOTP is enabled (checked above): its secret is stored
    secret = totp.decrypt_secret(fernet, identity.totp_secret)  # type: ignore[arg-type]
    if totp.verify_totp(session, identity.uuid, secret, code):
        return "otp"
    normalised = totp.normalise_recovery_code(code)
    if len(normalised) < 8:
        return None
    for recovery in identity.recovery_codes:
        if recovery.used_at is None and totp.recovery_code_matches(recovery.code_hash, normalised):
            # A conditional update: of two concurrent uses of one code, only one wins.
            used = session.execute(update(RecoveryCode)
                                   .where(RecoveryCode.id == recovery.id, RecoveryCode.used_at.is_(None))
                                   .values(used_at=utcnow()).execution_options(synchronize_session=False))
            session.refresh(recovery)
            # a DML statement's Result is a CursorResult, which has rowcount
            return "recovery" if used.rowcount == 1 else None  # type: ignore[attr-defined]
    return None
