"""The key ring that signs ID tokens: JWS keys (RFC 7515, RFC 7517, RFC 7518 §3.3/§3.4) published as
a JWK Set at jwks_uri (OpenID Connect Core 1.0 §10.1.1, Discovery 1.0 §3), and the SAML certificate.

Each key is a PKCS#8 PEM file `<kid>.pem` (mode 0600) in the keys directory; its kid is its RFC 7638
thumbprint. One file, `keyring.json` (mode 0600, replaced atomically), lists the keys and their states:

- `next`: published in the JWKS, not yet signing. A relying party caches the JWKS and looks up the
  kid of each ID token in its copy; a key that signs before the relying parties have fetched it makes
  every token they receive unverifiable until they refetch. So a key is published first, and signs
  only after a rotation, once the relying parties have had time (their cache lifetime) to see it.
- `active`: the one key per algorithm that signs.
- `retired`: no longer signs, still published for `retention_seconds` after retirement, so that tokens
  it signed stay verifiable until they expire; then dropped from the JWKS.

Several processes share the directory: each keeps one KeyRing and re-reads `keyring.json` whenever its
mtime (or inode) changes, so a rotation done with `idp keys rotate` reaches running web workers
without a restart. Writers take an exclusive lock on `.keyring.lock`.

Environment:
    IDP_KEYS_PASSPHRASE  when set and non-empty, private keys are written encrypted with it
                         (PKCS#8, BestAvailableEncryption) and read with it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, KeyParameterError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, RSAKey

from idp.errors import N_, Conflict, IdpError

ALGORITHMS = ("RS256", "ES256")
NEXT, ACTIVE, RETIRED = "next", "active", "retired"
STATES = (ACTIVE, NEXT, RETIRED)  # also the order of keys in the JWKS
METADATA_FILE = "keyring.json"
LOCK_FILE = ".keyring.lock"
PASSPHRASE_ENV = "IDP_KEYS_PASSPHRASE"
DEFAULT_RETENTION_SECONDS = 24 * 3600
RSA_BITS = 3072
_KEY_CLASS = {"RS256": RSAKey, "ES256": ECKey}
_KID = re.compile(r"[A-Za-z0-9_-]{16,128}")  # a kid names a file: nothing else gets through

SAML_KEY_FILE, SAML_CERT_FILE = "saml-signing.key", "saml-signing.crt"
SAML_VALIDITY = dt.timedelta(days=3 * 365)


class KeyRingError(IdpError):
    """The signing keys cannot be used."""

    http_status = 500


class InvalidToken(IdpError):
    """The token was not signed by this identity provider."""


def passphrase_from_environment(environ=None) -> bytes | None:
    value = (os.environ if environ is None else environ).get(PASSPHRASE_ENV, "")
    return value.encode() if value else None


class KeyRing:
    """The signing keys in `directory`. Thread-safe; one instance per process is enough."""

    def __init__(self, directory: Path, passphrase: bytes | None = None, clock=time.time,
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS):
        self.directory = Path(directory)
        self.passphrase = passphrase or None
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.metadata_path = self.directory / METADATA_FILE
        self._lock = threading.RLock()
        self._stamp = None
        self._entries: list[dict] = []
        self._keys: dict = {}  # kid → private key; a kid is a thumbprint, so it never names another key

    @classmethod
    def from_settings(cls, settings, environ=None, **kwargs) -> "KeyRing":
        return cls(Path(settings.keys_path), passphrase_from_environment(environ), **kwargs)

    # --- reading ------------------------------------------------------------------------------

    def list(self) -> list[dict]:
        """Every key's metadata (never key material), with whether the JWKS publishes it."""
        now = self.clock()
        return [{**e, "published": self._is_published(e, now)} for e in self._current()]

    def signing_key(self, alg: str = "RS256"):
        """(kid, private joserfc key) of the active key of `alg`."""
        _check_alg(alg)
        entry = _find(self._current(), alg, ACTIVE)
        if entry is None:
            raise KeyRingError(f"no active {alg} signing key: run `idp keys generate --alg {alg}`")
        return entry["kid"], self._private_key(entry)

    def jwks(self) -> dict:
        """The JWK Set for jwks_uri (RFC 7517 §5): public parts of next, active and unexpired retired keys."""
        return {"keys": [self._private_key(e).as_dict(private=False) for e in self._published()]}

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
            return self._private_key(entry)

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

    def _is_published(self, entry: dict, now: float) -> bool:
        return entry["state"] != RETIRED or now < entry["retired_at"] + self.retention_seconds

    def _published(self) -> list[dict]:
        now = self.clock()
        entries = [e for e in self._current() if self._is_published(e, now)]
        return sorted(entries, key=lambda e: (STATES.index(e["state"]), -e["created_at"]))

    def _current(self) -> list[dict]:
        """The metadata, re-read when the file changed: one stat per call."""
        try:
            st = os.stat(self.metadata_path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                self._stamp, self._entries = self._read_metadata()
        return self._entries

    def _read_metadata(self):
        path = self.metadata_path
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())  # the stamp of exactly the content read
                raw = f.read()
        except FileNotFoundError:
            return None, []
        except OSError as e:
            raise KeyRingError(f"{path}: cannot read: {e.strerror}") from None
        return (st.st_mtime_ns, st.st_ino, st.st_size), _parse_metadata(path, raw)

    def _private_key(self, entry: dict):
        kid = entry["kid"]
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                key = self._keys.get(kid) or self._load(entry)
                self._keys[kid] = key
        return key

    def _load(self, entry: dict):
        path = self.directory / f"{entry['kid']}.pem"
        data = _read_file(path)
        parameters = {"kid": entry["kid"], "alg": entry["alg"], "use": "sig"}
        try:
            key = _KEY_CLASS[entry["alg"]].import_key(data, parameters, password=self.passphrase)
        except TypeError:  # cryptography: encryption and passphrase disagree
            if self.passphrase is None:
                raise KeyRingError(f"{path}: the key is encrypted; set {PASSPHRASE_ENV}") from None
            raise KeyRingError(f"{path}: the key is not encrypted, but {PASSPHRASE_ENV} is set") from None
        except (ValueError, UnsupportedAlgorithm, JoseError):
            why = f"wrong {PASSPHRASE_ENV} or a damaged file" if self.passphrase else "a damaged file"
            raise KeyRingError(f"{path}: cannot load the {entry['alg']} key ({why})") from None
        if not key.is_private or key.thumbprint() != entry["kid"]:
            raise KeyRingError(f"{path}: this is not the private key {entry['kid']}")
        return key

    # --- changing -----------------------------------------------------------------------------

    def generate(self, alg: str = "RS256") -> dict:
        """A new key: `active` when `alg` has no signing key yet, else `next` (published, not signing)."""
        _check_alg(alg)
        with self._exclusive() as entries:
            waiting = _find(entries, alg, NEXT)
            if waiting is not None:
                raise Conflict(f"a next {alg} key ({waiting['kid']}) is already published: "
                               f"`idp keys rotate --alg {alg}` makes it the signing key")
            state = NEXT if _find(entries, alg, ACTIVE) else ACTIVE
            entry = self._new_key(alg, state)
            self._write_metadata(entries + [entry])
        return {**entry, "published": True}

    def rotate(self, alg: str = "RS256") -> dict:
        """The `next` key of `alg` signs from now on; the active one retires (still published for
        `retention_seconds`); a fresh `next` key is published at once, ready for the next rotation.

        There must be a `next` key, published long enough for relying parties to have fetched it: a key
        that signed without having been published would make their ID token checks fail."""
        _check_alg(alg)
        with self._exclusive() as entries:
            promoted = _find(entries, alg, NEXT)
            if promoted is None:
                raise KeyRingError(f"no next {alg} key to rotate to: run `idp keys generate --alg {alg}` "
                                   "first and wait until relying parties have fetched the JWKS")
            self._private_key(promoted)  # never promote a key that cannot be loaded
            previous = _find(entries, alg, ACTIVE)
            now = int(self.clock())
            changed = {promoted["kid"]: {**promoted, "state": ACTIVE, "activated_at": now}}
            if previous is not None:
                changed[previous["kid"]] = {**previous, "state": RETIRED, "retired_at": now}
            fresh = self._new_key(alg, NEXT)
            self._write_metadata([changed.get(e["kid"], e) for e in entries] + [fresh])
        retired = changed.get(previous["kid"]) if previous else None
        return {"alg": alg, "active": changed[promoted["kid"]], "retired": retired, "next": fresh}

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold the ring's lock (across processes) and yield the metadata as it is on disk now."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                yield list(self._read_metadata()[1])
                self._stamp = None  # re-read on the next call
        finally:
            os.close(fd)

    def _new_key(self, alg: str, state: str) -> dict:
        if alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        else:
            private = ec.generate_private_key(ec.SECP256R1())
        kid = _KEY_CLASS[alg].import_key(_public_pem(private)).thumbprint()
        _write_file(self.directory / f"{kid}.pem", _private_pem(private, self.passphrase), 0o600)
        now = int(self.clock())
        return {"kid": kid, "alg": alg, "state": state, "created_at": now,
                "activated_at": now if state == ACTIVE else None, "retired_at": None}

    def _write_metadata(self, entries: list[dict]) -> None:
        _write_file(self.metadata_path, json.dumps(entries, indent=2).encode() + b"\n", 0o600)


def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise KeyRingError(f"unsupported signing algorithm {alg!r}; expected one of {', '.join(ALGORITHMS)}")


def _find(entries: list[dict], alg: str, state: str) -> dict | None:
    return next((e for e in entries if e["alg"] == alg and e["state"] == state), None)


def _parse_metadata(path: Path, raw: bytes) -> list[dict]:
    try:
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("expected a list of keys")
        entries = [_checked_entry(item) for item in data]
        kids = [e["kid"] for e in entries]
        if len(set(kids)) != len(kids):
            raise ValueError("a kid appears twice")
        for alg in ALGORITHMS:
            for state in (ACTIVE, NEXT):
                if sum(1 for e in entries if e["alg"] == alg and e["state"] == state) > 1:
                    raise ValueError(f"more than one {state} {alg} key")
    except (ValueError, TypeError, KeyError) as e:
        raise KeyRingError(f"{path}: corrupted ({e}); restore it from a backup") from None
    return entries


def _checked_entry(item) -> dict:
    if not isinstance(item, dict):
        raise ValueError("a key entry is not an object")
    entry = {name: item.get(name) for name in ("kid", "alg", "state", "created_at", "activated_at", "retired_at")}
    if not isinstance(entry["kid"], str) or not _KID.fullmatch(entry["kid"]):
        raise ValueError(f"bad kid {entry['kid']!r}")
    if entry["alg"] not in ALGORITHMS or entry["state"] not in STATES:
        raise ValueError(f"key {entry['kid']}: bad alg or state")
    stamps = [entry["created_at"]] + [entry[n] for n in ("activated_at", "retired_at") if entry[n] is not None]
    if (entry["state"] == RETIRED and entry["retired_at"] is None) or not all(type(s) is int for s in stamps):
        raise ValueError(f"key {entry['kid']}: bad timestamps")
    return entry


def _private_pem(private, passphrase: bytes | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _public_pem(private) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyRingError(f"{path}: cannot read: {e.strerror}") from None


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` atomically, created with `mode` (never wider, whatever the umask)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- SAML ------------------------------------------------------------------------------------------

def saml_certificate(directory: Path, common_name: str, passphrase: bytes | None = None, *,
                     force: bool = False, clock=time.time) -> dict:
    """The self-signed certificate that signs SAML messages (SAML Metadata §2.4.1.1 KeyDescriptor):
    RSA 3072, SHA-256, 3 years. Made once: an existing pair is kept unless `force`."""
    directory = Path(directory)
    key_path, cert_path = directory / SAML_KEY_FILE, directory / SAML_CERT_FILE
    if not force and (key_path.exists() or cert_path.exists()):
        if not (key_path.exists() and cert_path.exists()):
            present = key_path if key_path.exists() else cert_path
            raise KeyRingError(f"{present}: exists without its pair; use --force to replace both")
        return {**describe_certificate(cert_path), "key": str(key_path), "created": False}
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.fromtimestamp(int(clock()), dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + SAML_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    _write_file(key_path, _private_pem(private, passphrase), 0o600)
    _write_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return {**describe_certificate(cert_path), "key": str(key_path), "created": True}


def describe_certificate(path: Path) -> dict:
    try:
        certificate = x509.load_pem_x509_certificate(_read_file(path))
    except ValueError:
        raise KeyRingError(f"{path}: not a PEM certificate") from None
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
    return {
        "certificate": str(path), "subject": certificate.subject.rfc4514_string(),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)),
    }
