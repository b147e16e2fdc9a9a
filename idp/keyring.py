"""The key ring that signs ID tokens: JWS keys (RFC 7515, RFC 7517, RFC 7518 §3.3/§3.4) published as
a JWK Set at jwks_uri (OpenID Connect Core 1.0 §10.1.1, Discovery 1.0 §3), and the SAML certificate
(SAML Metadata §2.4.1.1).

The keys live in the database (table signing_keys), so that every instance signs with keys every
other instance publishes, with no shared filesystem. A key's kid is its RFC 7638 thumbprint; its
private part is PKCS#8 PEM, encrypted under IDP_KEYS_PASSPHRASE when that is set. States:

- `next`: published in the JWKS, not yet signing. A relying party caches the JWKS and looks up the
  kid of each ID token in its copy; a key that signs before the relying parties have fetched it makes
  every token they receive unverifiable until they refetch. So a key is published first, and signs
  only after a rotation, once the relying parties have had time (their cache lifetime) to see it.
- `active`: the one key per algorithm that signs.
- `retired`: no longer signs, still published for `retention_seconds` after retirement, so that tokens
  it signed stay verifiable until they expire; then dropped from the JWKS.

Each process keeps one KeyRing and checks, at most every `refresh_seconds`, whether the table changed
(one small aggregate query: the sum of the rows' revisions); only then does it re-read the keys. So a
key generated or rotated through any instance's `idp keys …` is published and used by every running
instance within `refresh_seconds`, without a restart. Writers are serialised by a PostgreSQL advisory
lock, and a partial unique index keeps one active and one next key per algorithm whatever happens.

Environment:
    IDP_KEYS_PASSPHRASE  when set and non-empty, private keys are stored encrypted with it
                         (PKCS#8, BestAvailableEncryption) and read with it.
"""
from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import logging
import os
import threading
import time

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, KeyParameterError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, KeyParameters, RSAKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from idp.errors import N_, Conflict, IdpError
from idp.models import SigningKey

ALGORITHMS = ("RS256", "ES256")
NEXT, ACTIVE, RETIRED = "next", "active", "retired"
STATES = (ACTIVE, NEXT, RETIRED)  # also the order of keys in the JWKS
OIDC, SAML = "oidc", "saml"
PASSPHRASE_ENV = "IDP_KEYS_PASSPHRASE"  # noqa: S105 (the variable's name, not its value)
DEFAULT_RETENTION_SECONDS = 24 * 3600
DEFAULT_REFRESH_SECONDS = 5
RSA_BITS = 3072
_KEY_CLASS: dict[str, type[RSAKey] | type[ECKey]] = {"RS256": RSAKey, "ES256": ECKey}
_LOCK_ID = 0x1D9_4B45  # pg_advisory_xact_lock key of the key ring's writers
TIMES = ("created_at", "activated_at", "retired_at")
SAML_VALIDITY = dt.timedelta(days=3 * 365)
log = logging.getLogger(__name__)


class KeyRingError(IdpError):
    """The signing keys cannot be used."""

    http_status = 500


class InvalidToken(IdpError):
    """The token was not signed by this identity provider."""


def passphrase_from_environment(environ=None) -> bytes | None:
    value = (os.environ if environ is None else environ).get(PASSPHRASE_ENV, "")
    return value.encode() if value else None


class KeyRing:
    """The signing keys in `database` (an idp.db.Database). Thread-safe; one per process is enough."""

    def __init__(self, database, passphrase: bytes | None = None, clock=time.time,
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS,
                 refresh_seconds: float = DEFAULT_REFRESH_SECONDS):
        self.database = database
        self.passphrase = passphrase or None
        self.retention_seconds = retention_seconds
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.RLock()
        self._version: tuple | None = None
        self._checked_at: float | None = None
        self._entries: list[dict] = []
        self._keys: dict = {}  # kid → private key; a kid is a thumbprint, so it never names another key
        self._public: dict = {}  # kid → public key
        self._saml_pem: dict = {}  # kid → the SAML private key, PEM, for xmlsec1

    @classmethod
    def from_settings(cls, settings, database, environ=None, **kwargs) -> KeyRing:
        return cls(database, passphrase_from_environment(environ),
                   refresh_seconds=settings.keys_refresh_seconds, **kwargs)

    # --- reading ------------------------------------------------------------------------------

    def list(self) -> builtins.list[dict]:
        """Every ID token key's metadata (never key material), with whether the JWKS publishes it."""
        now = self.clock()
        return [{**_metadata(e), "published": self._is_published(e, now)} for e in self._oidc()]

    def signing_key(self, alg: str = "RS256"):
        """(kid, private joserfc key) of the active key of `alg`."""
        _check_alg(alg)
        entry = _find(self._oidc(), alg, ACTIVE)
        if entry is None:
            raise KeyRingError(f"no active {alg} signing key: run `idp keys generate --alg {alg}`")
        return entry["kid"], self._private_key(entry)

    def jwks(self) -> dict:
        """The JWK Set for jwks_uri (RFC 7517 §5): public parts of next, active and unexpired retired keys."""
        return {"keys": [dict(e["public_jwk"]) for e in self._published()]}

    def sign(self, claims: dict, alg: str = "RS256", typ: str = "JWT") -> str:
        """A compact JWS of `claims` (RFC 7519 §7.1) by the active key of `alg`, its kid in the header."""
        kid, key = self.signing_key(alg)
        # a copy: joserfc turns datetime exp/iat/nbf into numbers in the dict it is given
        return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, dict(claims), key, algorithms=[alg])

    def verify(self, token: str) -> dict:
        """The claims of a token signed by a published key. Checks the signature only: exp, aud and
        iss are the caller's (an expired ID token is still a valid id_token_hint, RP-Initiated Logout §2)."""
        published = {e["kid"]: e for e in self._published()}

        def key_for(obj):
            entry = published.get(obj.headers().get("kid"))
            if entry is None:
                raise InvalidToken(N_("The token was signed with an unknown or expired key."))
            return self._public_key(entry)

        try:
            return jwt.decode(token, key_for, algorithms=list(ALGORITHMS)).claims
        except (BadSignatureError, KeyParameterError):  # the latter: alg and key disagree
            raise InvalidToken(N_("The token's signature is not valid.")) from None
        except UnsupportedAlgorithmError:
            raise InvalidToken(N_("The token is signed with an algorithm this provider does not use.")) from None
        except JoseError:
            raise InvalidToken(N_("The token is malformed.")) from None
        except (ValueError, TypeError, KeyError):
            raise InvalidToken(N_("The token is malformed.")) from None

    def saml_signing(self) -> dict | None:
        """The active SAML signing pair: kid, `key_pem` (decrypted, PKCS#8) and `certificate` (PEM)."""
        entry = _find([e for e in self._current() if e["purpose"] == SAML], "RS256", ACTIVE)
        if entry is None:
            return None
        key_pem = self._saml_pem.get(entry["kid"])
        if key_pem is None:
            key_pem = self._private_key(entry).private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            self._saml_pem[entry["kid"]] = key_pem
        return {"kid": entry["kid"], "key_pem": key_pem, "certificate": entry["certificate"].encode()}

    def refresh(self) -> None:
        """Re-read the keys on the next use, whatever the refresh interval."""
        self._checked_at = None

    def _is_published(self, entry: dict, now: float) -> bool:
        return entry["state"] != RETIRED or now < entry["retired_at"] + self.retention_seconds

    def _published(self) -> builtins.list[dict]:
        now = self.clock()
        entries = [e for e in self._oidc() if self._is_published(e, now)]
        return sorted(entries, key=lambda e: (STATES.index(e["state"]), -e["created_at"]))

    def _oidc(self) -> builtins.list[dict]:
        return [e for e in self._current() if e["purpose"] == OIDC]

    def _current(self) -> builtins.list[dict]:
        """The keys, re-read when the table changed; the check itself runs at most every refresh_seconds."""
        now = self.clock()
        checked_at = self._checked_at
        if checked_at is not None and 0 <= now - checked_at < self.refresh_seconds:
            return self._entries
        with self._lock, self.database.session() as session:
            try:
                version = tuple(session.execute(
                    select(func.count(), func.coalesce(func.sum(SigningKey.revision), 0))).one())
                if version != self._version:
                    self._entries = [_entry(row) for row in session.scalars(select(SigningKey))]
                    self._version = version
            except SQLAlchemyError:
                if self._version is None:
                    raise
                # A database blip: keep signing and publishing with the keys known; ask again later.
                log.warning("signing keys not refreshed: the database did not answer", exc_info=True)
            self._checked_at = now
        return self._entries

    def _private_key(self, entry: dict):
        kid = entry["kid"]
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                key = self._keys.get(kid) or _load_private(entry, self.passphrase)
                self._keys[kid] = key
        return key

    def _public_key(self, entry: dict):
        key = self._public.get(entry["kid"])
        if key is None:
            key = _KEY_CLASS[entry["alg"]].import_key(entry["public_jwk"])
            self._public[entry["kid"]] = key
        return key

    # --- changing -----------------------------------------------------------------------------

    def generate(self, alg: str = "RS256") -> dict:
        """A new key: `active` when `alg` has no signing key yet, else `next` (published, not signing)."""
        _check_alg(alg)
        with self._writing() as session:
            entries = _rows(session, OIDC)
            waiting = _find(entries, alg, NEXT)
            if waiting is not None:
                raise Conflict(f"a next {alg} key ({waiting['kid']}) is already published: "
                               f"`idp keys rotate --alg {alg}` makes it the signing key")
            state = NEXT if _find(entries, alg, ACTIVE) else ACTIVE
            row = self._new_key(alg, state)
            session.add(row)
        return {**_metadata(_entry(row)), "published": True}

    def rotate(self, alg: str = "RS256") -> dict:
        """The `next` key of `alg` signs from now on; the active one retires (still published for
        `retention_seconds`); a fresh `next` key is published at once, ready for the next rotation.

        There must be a `next` key, published long enough for relying parties to have fetched it: a key
        that signed without having been published would make their ID token checks fail."""
        _check_alg(alg)
        with self._writing() as session:
            rows = {row.kid: row for row in session.scalars(select(SigningKey).where(
                SigningKey.purpose == OIDC, SigningKey.alg == alg))}
            promoted = next((r for r in rows.values() if r.state == NEXT), None)
            if promoted is None:
                raise KeyRingError(f"no next {alg} key to rotate to: run `idp keys generate --alg {alg}` "
                                   "first and wait until relying parties have fetched the JWKS")
            self._private_key(_entry(promoted))  # never promote a key that cannot be loaded
            previous = next((r for r in rows.values() if r.state == ACTIVE), None)
            now = int(self.clock())
            if previous is not None:
                _change(previous, state=RETIRED, retired_at=now)
                session.flush()  # the unique index allows one active key: retire before promoting
            _change(promoted, state=ACTIVE, activated_at=now)
            session.flush()
            fresh = self._new_key(alg, NEXT)
            session.add(fresh)
        retired = _metadata(_entry(previous)) if previous is not None else None
        return {"alg": alg, "active": _metadata(_entry(promoted)), "retired": retired,
                "next": _metadata(_entry(fresh))}

    def generate_saml(self, common_name: str, *, force: bool = False) -> dict:
        """The self-signed certificate that signs SAML messages (SAML Metadata §2.4.1.1 KeyDescriptor):
        RSA 3072, SHA-256, 3 years. Made once: an existing one is kept unless `force`, which retires it."""
        with self._writing() as session:
            current = session.scalar(select(SigningKey).where(SigningKey.purpose == SAML,
                                                              SigningKey.state == ACTIVE))
            if current is not None and not force:
                return {**describe_certificate(current.certificate.encode()), "kid": current.kid,
                        "created": False}
            if current is not None:
                _change(current, state=RETIRED, retired_at=int(self.clock()))
                session.flush()
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
            certificate = _self_signed(private, common_name, int(self.clock()))
            row = self._row(private, "RS256", ACTIVE, SAML, certificate=certificate.decode())
            session.add(row)
        return {**describe_certificate(certificate), "kid": row.kid, "created": True}

    def add(self, private, alg: str, state: str, purpose: str = OIDC, *, created_at: int,
            activated_at: int | None = None, retired_at: int | None = None,
            certificate: bytes | None = None, expected_kid: str | None = None) -> dict | None:
        """Store an existing key (`idp keys import`) under this ring's passphrase. A kid already
        stored is left alone (None); a key whose state is taken (another active or next key) is
        stored retired, so that what it signed still verifies."""
        _check_alg(alg)
        try:
            row = self._row(private, alg, state, purpose, certificate=certificate.decode() if certificate else None)
        except (ValueError, TypeError, JoseError):
            raise KeyRingError(f"key {expected_kid}: not an {alg} key" if expected_kid
                               else f"not an {alg} key") from None
        if expected_kid is not None and row.kid != expected_kid:
            raise KeyRingError(f"key {expected_kid}: the file holds another key ({row.kid})")
        with self._writing() as session:
            if session.get(SigningKey, row.kid) is not None:
                return None
            row.created_at, row.activated_at, row.retired_at = created_at, activated_at, retired_at
            taken = state != RETIRED and session.scalar(select(SigningKey.kid).where(
                SigningKey.purpose == purpose, SigningKey.alg == alg, SigningKey.state == state))
            if taken:
                row.state, row.retired_at = RETIRED, int(self.clock())
            session.add(row)
        return {**_metadata(_entry(row)), "purpose": purpose}

    @contextlib.contextmanager
    def _writing(self):
        """A transaction that holds the ring's writer lock (across instances, on PostgreSQL)."""
        with self._lock, self.database.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            try:
                yield session
                session.commit()
            except IntegrityError:
                session.rollback()
                raise Conflict("another instance changed the signing keys at the same moment; "
                               "run the command again") from None
            finally:
                self._checked_at = None  # re-read on the next call

    def _new_key(self, alg: str, state: str) -> SigningKey:
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        else:
            private = ec.generate_private_key(ec.SECP256R1())
        return self._row(private, alg, state, OIDC)

    def _row(self, private, alg: str, state: str, purpose: str, certificate: str | None = None) -> SigningKey:
        public = _KEY_CLASS[alg].import_key(_public_pem(private))
        kid = public.thumbprint()
        now = int(self.clock())
        return SigningKey(kid=kid, purpose=purpose, alg=alg, state=state, created_at=now,
                          activated_at=now if state == ACTIVE else None, retired_at=None,
                          public_jwk=public.as_dict(private=False, kid=kid, alg=alg, use="sig"),
                          private_pem=_private_pem(private, self.passphrase).decode(),
                          certificate=certificate, revision=1)


def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise KeyRingError(f"unsupported signing algorithm {alg!r}; expected one of {', '.join(ALGORITHMS)}")


def _find(entries: list[dict], alg: str, state: str) -> dict | None:
    return next((e for e in entries if e["alg"] == alg and e["state"] == state), None)


def _rows(session, purpose: str) -> list[dict]:
    return [_entry(r) for r in session.scalars(select(SigningKey).where(SigningKey.purpose == purpose))]


def _entry(row: SigningKey) -> dict:
    return {"kid": row.kid, "alg": row.alg, "state": row.state, "created_at": row.created_at,
            "activated_at": row.activated_at, "retired_at": row.retired_at, "purpose": row.purpose,
            "public_jwk": row.public_jwk, "private_pem": row.private_pem, "certificate": row.certificate}


def _metadata(entry: dict) -> dict:
    return {name: entry[name] for name in ("kid", "alg", "state", *TIMES)}


def _change(row: SigningKey, **values) -> None:
    for name, value in values.items():
        setattr(row, name, value)
    row.revision = row.revision + 1


def _load_private(entry: dict, passphrase: bytes | None):
    kid, alg = entry["kid"], entry["alg"]
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    try:
        key = _KEY_CLASS[alg].import_key(entry["private_pem"].encode(), parameters, password=passphrase)
    except TypeError:  # cryptography: encryption and passphrase disagree
        if passphrase is None:
            raise KeyRingError(f"signing key {kid}: the key is encrypted; set {PASSPHRASE_ENV}") from None
        raise KeyRingError(f"signing key {kid}: the key is not encrypted, but {PASSPHRASE_ENV} is set") from None
    except (ValueError, UnsupportedAlgorithm, JoseError):
        why = f"wrong {PASSPHRASE_ENV} or a damaged key" if passphrase else "a damaged key"
        raise KeyRingError(f"signing key {kid}: cannot load the {alg} key ({why})") from None
    if not key.is_private or key.thumbprint() != kid:
        raise KeyRingError(f"signing key {kid}: the stored private key is another key")
    return key


def _private_pem(private, passphrase: bytes | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _public_pem(private) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


# --- SAML certificate ----------------------------------------------------------------------------

def _self_signed(private, common_name: str, now: int) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + SAML_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def describe_certificate(pem: bytes) -> dict:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise KeyRingError("the SAML certificate is not PEM") from None
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
    return {
        "subject": certificate.subject.rfc4514_string(),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)),
    }
