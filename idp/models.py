"""Durable state: SQLAlchemy 2.0 typed models. Every change to them is an Alembic revision."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


class RegistryPerson(Base):
    """A person as the civil registry knows them; the built-in registry is this table."""

    __tablename__ = "registry_people"

    national_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    birth_date: Mapped[dt.date] = mapped_column(Date)  # Gregorian
    gender: Mapped[str] = mapped_column(String(1))  # "M" or "F"
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    nationality: Mapped[str] = mapped_column(String(3))  # ISO 3166-1 alpha-3, e.g. SAU

    @property
    def id_type(self) -> str:
        return "citizen" if self.national_id.startswith("1") else "resident"


class Identity(Base):
    """A citizen's or resident's digital identity."""

    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What sessions and tokens refer to: random, so an id that a database restore hands out again
    # can never lead an old session or token to another citizen.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # Input of the pairwise `sub` and SAML NameID. Random for new identities; the decimal id for
    # identities made before 0003, so the identifiers relying parties already hold do not change.
    subject_seed: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)
    national_id: Mapped[str] = mapped_column(
        String(10), ForeignKey("registry_people.national_id"), unique=True
    )
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    mobile: Mapped[str | None] = mapped_column(String(13))  # +9665XXXXXXXX
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    totp_secret: Mapped[str | None] = mapped_column(Text)  # Fernet-encrypted
    totp_enabled_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|active|locked
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    person: Mapped[RegistryPerson] = relationship(lazy="joined")
    recovery_codes: Mapped[list["RecoveryCode"]] = relationship(
        back_populates="identity", cascade="all, delete-orphan"
    )

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class RecoveryCode(Base):
    """A single-use second-factor recovery code, stored only as an argon2 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[dt.datetime | None]

    identity: Mapped[Identity] = relationship(back_populates="recovery_codes")


class AuditEvent(Base):
    """A security event. Never holds a password, code or token."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"), index=True
    )
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class RelyingParty(Base):
    """A government portal that signs citizens in here, over OpenID Connect or SAML 2.0."""

    __tablename__ = "relying_parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(8))  # "oidc" or "saml"
    client_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # OIDC
    entity_id: Mapped[str | None] = mapped_column(String(1024), unique=True)  # SAML
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)  # scopes it may ask for
    auth_method: Mapped[str | None] = mapped_column(String(32))  # token endpoint client authentication
    secret_hash: Mapped[str | None] = mapped_column(String(128))  # SHA-256 of a 256-bit random secret
    jwks: Mapped[dict | None] = mapped_column(JSON)  # private_key_jwt: the RP's registered keys
    jwks_uri: Mapped[str | None] = mapped_column(String(1024))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    subject_type: Mapped[str] = mapped_column(String(8), default="pairwise")
    require_loa2: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_national_id: Mapped[bool] = mapped_column(Boolean, default=False)
    saml_metadata: Mapped[str | None] = mapped_column(Text)
    require_signed_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """What an identity allowed a relying party to receive; asked again when the scopes change."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("identity_id", "relying_party_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    relying_party_id: Mapped[int] = mapped_column(ForeignKey("relying_parties.id", ondelete="CASCADE"))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    relying_party: Mapped[RelyingParty] = relationship(lazy="joined")


# --- operations: the mail outbox ---------------------------------------------------------------

class OutboxMail(Base):
    """A message waiting for (or done with) delivery: mail leaves the request path, and an SMTP
    outage delays it instead of losing it. The body is Fernet-encrypted (it may hold a recovery
    link) and blanked once delivered."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # Fernet token of the plain-text body; "" once sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due time; a sender claims a row by moving it a lease ahead, so a sender that dies mid-way
    # leaves the row to be picked up again once the lease runs out.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    failed_at: Mapped[dt.datetime | None]  # gave up after the last attempt
    last_error: Mapped[str | None] = mapped_column(String(300))  # the SMTP error, never the body
