"""Durable state: SQLAlchemy 2.0 typed models. Every change to them is an Alembic revision."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint, func, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    # The mobile the registry holds for the person (+9665XXXXXXXX): registration proves the
    # citizen holds it (a one-time code by SMS), since ID, birth date and gender are not secrets.
    mobile: Mapped[str | None] = mapped_column(String(13))

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
    # No foreign key into registry_people: the registry may be another agency's service (0112).
    national_id: Mapped[str] = mapped_column(String(10), unique=True)
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
    # What the civil registry said when the identity was verified (registration, reclaim, admin
    # creation): the claims come from here, so identities work whatever registry is configured.
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date] = mapped_column(Date)  # Gregorian
    gender: Mapped[str] = mapped_column(String(1))  # "M" or "F"
    nationality: Mapped[str] = mapped_column(String(3))  # ISO 3166-1 alpha-3
    registry_checked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The registry's mobile that the SMS code proved; None when no code was sent (admin creation,
    # identities made before 0112).
    registry_mobile: Mapped[str | None] = mapped_column(String(13))

    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="identity", cascade="all, delete-orphan"
    )

    @property
    def id_type(self) -> str:
        return "citizen" if self.national_id.startswith("1") else "resident"

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
    # OIDC: every sign-in for it with a passkey (urn:idp:loa:3, issue 14)
    require_loa3: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    allow_national_id: Mapped[bool] = mapped_column(Boolean, default=False)
    saml_metadata: Mapped[str | None] = mapped_column(Text)
    require_signed_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # revocation, introspection and back-channel logout (issue 11)
    introspection: Mapped[bool] = mapped_column(Boolean, default=False,  # a resource server (RFC 7662)
                                                server_default=text("false"))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(1024))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False,
                                                                      server_default=text("false"))
    # OIDC: may start sign-ins with CIBA (Client-Initiated Backchannel Authentication, issue 14)
    ciba: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


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


# --- durable token state (issue 8): what a Redis loss must not undo --------------------------------

class TokenFamily(Base):
    """The tokens of one authorization (one code, the refresh tokens rotated from it).

    Revoking sets `revoked_at`; every later use of a code, refresh or access token of the family is
    refused (RFC 9700 §4.14). Identities are referred to by uuid, which a restore never reuses."""

    __tablename__ = "token_families"
    __table_args__ = (Index("ix_token_families_identity_client", "identity_uuid", "client_id"),
                      Index("ix_token_families_client_sub", "client_id", "sub"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    identity_uuid: Mapped[str] = mapped_column(String(36))
    client_id: Mapped[str] = mapped_column(String(64))
    sub: Mapped[str] = mapped_column(String(64))  # the subject identifier this client was given
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)  # the family's refresh tokens end here
    revoked_at: Mapped[dt.datetime | None]


class RefreshToken(Base):
    """A refresh token, by the SHA-256 of its value. Using it issues a successor, the row whose
    `predecessor_hash` is its hash (unique: a token has one successor, however many requests race);
    it was rotated at its successor's `issued_at`. A retry within the grace gives the successor a
    new value (RFC 9700 §4.14)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("token_families.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    identity_uuid: Mapped[str] = mapped_column(String(36))
    granted_scope: Mapped[str] = mapped_column(String(500))
    auth_request: Mapped[dict] = mapped_column(JSON)  # what is needed to mint tokens from it
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    predecessor_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class UsedMark(Base):
    """A value that may be used once (a TOTP time step, a client assertion's jti), kept while it
    could still be accepted. The key is a SHA-256, so the table holds no usable value."""

    __tablename__ = "used_marks"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class EmailLink(Base):
    """A link sent by mail (email verification, email change, password recovery), by the SHA-256
    of its token; used once by a conditional UPDATE."""

    __tablename__ = "email_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


# --- secrets and signing keys: what every instance must share ----------------------------------

class SecretFingerprint(Base):
    """A keyed hash of one secret that every instance must share (see idp/shared_secrets.py), so
    that an instance configured with another value refuses to start. Never the secret itself."""

    __tablename__ = "secret_fingerprints"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # the setting, e.g. "secret_key"
    salt: Mapped[str] = mapped_column(String(64))  # random, hex
    digest: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(secret, name ‖ salt), hex
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


_CURRENT_KEY = "state IN ('active', 'next')"


class SigningKey(Base):
    """A key that signs ID tokens (purpose "oidc") or SAML messages (purpose "saml"), shared by every
    instance through the database. The private part is PKCS#8, encrypted under IDP_KEYS_PASSPHRASE
    when it is set; the public part is what the JWKS publishes."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one active and one next key per purpose and algorithm, whatever instances race.
        Index("uq_signing_keys_current", "purpose", "alg", "state", unique=True,
              postgresql_where=text(_CURRENT_KEY), sqlite_where=text(_CURRENT_KEY)),
    )

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)  # RFC 7638 thumbprint
    purpose: Mapped[str] = mapped_column(String(8))  # "oidc" or "saml"
    alg: Mapped[str] = mapped_column(String(8))  # RS256 or ES256
    state: Mapped[str] = mapped_column(String(8))  # next | active | retired
    created_at: Mapped[int] = mapped_column(BigInteger)  # Unix time
    activated_at: Mapped[int | None] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_pem: Mapped[str] = mapped_column(Text)
    certificate: Mapped[str | None] = mapped_column(Text)  # SAML: the self-signed certificate, PEM
    # Grows by one on every change: the sum over the table tells instances that keys changed.
    revision: Mapped[int] = mapped_column(Integer, default=1)


# --- proofing and lockout (0104) ----------------------------------------------------------------

class SignInLock(Base):
    """A sign-in lock (NIST SP 800-63B §5.2.2), durable so that losing the ephemeral store never
    unlocks an account. Keys are keyed hashes of the account name and of the source (a known
    device or a client IP), never the names themselves. `source_key` "*" is the whole account
    (the second-factor hard cap). `until`: None while only `failures` are counted, 9999-01-01 for
    "until an administrator (or, for the second factor, a recovery code) lifts it"."""

    __tablename__ = "sign_in_locks"
    __table_args__ = (UniqueConstraint("account_key", "source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    source_key: Mapped[str] = mapped_column(String(64))
    until: Mapped[dt.datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive wrong second-factor codes
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnownDevice(Base):
    """A browser that completed a sign-in for an identity: its long-lived cookie holds a random
    token, kept here only as a SHA-256. Failures from elsewhere do not slow or lock it out."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("identity_id", "token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- sign-in sessions (issue 8: durable, keyed by a hash, referring to the identity's uuid) ---

class SignInSession(Base):
    """A server-side session. The cookie holds a random id; this table only its SHA-256, so a copy
    of the table (a backup, a replica) signs no one in. Anonymous visitors' sessions (a pending
    relying-party request, a registration step) live here too, with no identity."""

    __tablename__ = "sign_in_sessions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256 of the cookie value
    # The identity's uuid, never its integer id: a restored database hands integer ids out again.
    identity_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    # Seconds since the epoch, as the session code's (injectable) clock gives them.
    created: Mapped[float] = mapped_column(Float)
    seen: Mapped[float] = mapped_column(Float)  # written at most once a minute when nothing changed
    expires: Mapped[float] = mapped_column(Float, index=True)  # idle or absolute limit, the earlier
    revoked_at: Mapped[float | None] = mapped_column(Float)  # set once; never written back
    data: Mapped[dict] = mapped_column(JSON, default=dict)


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


# --- passkeys (issue 14: WebAuthn credentials, discoverable, user verification required) -------

class Passkey(Base):
    """A WebAuthn credential (WebAuthn Level 3 §6.1, §6.4) an identity registered. Only the public
    key is here: the private key never leaves the authenticator (or the citizen's synced keychain)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, ≤ 1023 bytes raw
    public_key: Mapped[str] = mapped_column(Text)  # base64url of the COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)  # as the browser reported them
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)  # BE flag: a synced passkey
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)  # BS flag, as last seen
    aaguid: Mapped[str] = mapped_column(String(36), default="00000000-0000-0000-0000-000000000000")
    name: Mapped[str] = mapped_column(String(64))  # what the citizen calls it
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]


class PasskeyHandle(Base):
    """The WebAuthn user handle of an identity (WebAuthn §14.6.1): random, so an authenticator holds
    neither the national ID nor a database id."""

    __tablename__ = "passkey_handles"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)  # base64url of 32 random bytes


# --- logout that reaches every portal (issue 11) -------------------------------------------------

class PortalSignIn(Base):
    """A relying party this IdP session signed a citizen in to: written when a code or assertion is
    issued, so that a session ending anywhere (another device, a password reset, an administrator's
    lock) can tell every portal. `sid` is the IdP session's random logout id (never its cookie)."""

    __tablename__ = "portal_sign_ins"
    __table_args__ = (Index("ix_portal_sign_ins_identity", "identity_uuid", "ended_at"),
                      Index("ix_portal_sign_ins_sid", "sid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_uuid: Mapped[str] = mapped_column(String(36))
    sid: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(8))  # "oidc" or "saml"
    client_id: Mapped[str] = mapped_column(String(1024))  # OIDC client_id or SAML entityID
    sub: Mapped[str] = mapped_column(String(256))  # the sub or NameID that portal knows the citizen by
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]


class LogoutDelivery(Base):
    """A back-channel logout token waiting to reach a portal (OIDC Back-Channel Logout 1.0 §2.7).
    The claims are kept, not the token: each attempt signs afresh, with the same jti."""

    __tablename__ = "logout_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    identity_id: Mapped[int | None] = mapped_column(Integer)  # for the audit log only
    uri: Mapped[str] = mapped_column(String(1024))
    claims: Mapped[dict] = mapped_column(JSON)
    alg: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | delivered | failed
    last_error: Mapped[str | None] = mapped_column(String(200))


# --- the approval app (issue 14: number matching, confirmed with the phone's passkey) ----------

class AppDevice(Base):
    """A phone enrolled as the citizen's approval app: a WebAuthn credential made on that phone
    (discoverable, user verification required) and the SHA-256 of the random bearer token the app
    keeps, which lets it ask for its identity's pending request. Only the credential approves."""

    __tablename__ = "app_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[str] = mapped_column(Text)  # base64url of the COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]


_PENDING = "status = 'pending'"


class Approval(Base):
    """A sign-in waiting for the citizen's approval in the app (web sign-in or CIBA). At most one
    is pending per identity; a new one cancels the older. `status` pending|approved|denied|cancelled
    (expiry is computed from `expires_at`); `redeemed_at` is set once, when the approval is used."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("uq_approval_requests_pending", "identity_uuid", unique=True,
              postgresql_where=text(_PENDING), sqlite_where=text(_PENDING)),
        Index("ix_approval_requests_identity_created", "identity_uuid", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, URL-safe, 256 bits
    identity_uuid: Mapped[str] = mapped_column(String(36))
    origin: Mapped[str] = mapped_column(String(8))  # "web" or "ciba"
    binding_number: Mapped[str] = mapped_column(String(8))
    choices: Mapped[list] = mapped_column(JSON)  # three distinct numbers, the binding number among them
    salt: Mapped[str] = mapped_column(String(64))  # random; part of the WebAuthn challenge
    portal_name_ar: Mapped[str] = mapped_column(String(200))
    portal_name_en: Mapped[str] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(16))  # wrong_number | declined | superseded
    decided_at: Mapped[dt.datetime | None]
    device_id: Mapped[int | None] = mapped_column(ForeignKey("app_devices.id", ondelete="SET NULL"))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    redeemed_at: Mapped[dt.datetime | None]


# --- Client-Initiated Backchannel Authentication (issue 14) ---------------------------------------

class CibaRequest(Base):
    """One CIBA authentication request (CIBA Core 1.0 §7) and its grant's state, polled at the token
    endpoint (§10). Kept here, not in the store: a lost row would let its tokens be issued twice.
    `id` is the SHA-256 of the auth_req_id the client holds (the value itself is never stored).
    `approval_id` is the citizen's approval request (idp.approval); None when the national ID has
    no identity: such a request is answered like any other and simply expires (no enumeration)."""

    __tablename__ = "ciba_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    identity_uuid: Mapped[str | None] = mapped_column(String(36))
    approval_id: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(1024))
    acr: Mapped[str | None] = mapped_column(String(64))  # the level asked for with acr_values
    binding_message: Mapped[str] = mapped_column(String(8))
    interval: Mapped[int] = mapped_column(Integer)  # seconds between polls; grows with each slow_down
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_polled_at: Mapped[dt.datetime | None]
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | issued | refused
