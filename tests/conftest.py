"""Shared fixtures: app, client, runner, db, store, smtp, people (a small civil registry),
make_identity, and `web` (a client that fills forms the way a browser does, CSRF token included).

With IDP_TEST_DATABASE_URL / IDP_TEST_REDIS_URL set (as .ci/run does) the suite runs on that
PostgreSQL and Redis; without them, on SQLite and the in-process store.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from idp import create_app
from idp.db import Database
from idp.models import Base, RegistryPerson
from idp.store.memory import MemoryStore
from tests import second_factor as second_factor_codes

TEST_DATABASE_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")


# --- durable and ephemeral stores ----------------------------------------------------------

@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if TEST_DATABASE_URL:
        database = Database(TEST_DATABASE_URL)
        with database.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        database.dispose()
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'idp.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_database(database_url):
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def store():
    if TEST_REDIS_URL:
        from idp.store.redis import RedisStore

        redis_store = RedisStore.from_url(TEST_REDIS_URL)
        redis_store.prefix = f"idp-test-{os.getpid()}:"
        redis_store.flush()
        yield redis_store
        redis_store.flush()
    else:
        yield MemoryStore()


@pytest.fixture(autouse=True)
def _forget_secret_fingerprints(request):
    """Each test's app has secrets of its own (a fresh secret_key, its own instance folder): forget
    the fingerprints an earlier test recorded, or its app would rightly refuse to start."""
    if "migrated_database" in request.fixturenames:
        from idp.models import SecretFingerprint

        with request.getfixturevalue("migrated_database").engine.begin() as connection:
            connection.execute(SecretFingerprint.__table__.delete())


# --- mail -------------------------------------------------------------------------------------

class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self):
        self.messages: list = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["To"]]

    def last_to(self, address: str):
        found = self.to(address)
        assert found, f"no mail to {address}; have {[m['To'] for m in self.messages]}"
        return found[-1]

    @staticmethod
    def body(message) -> str:
        return message.get_body(("plain",)).get_content()

    def link(self, address: str, path_part: str) -> str:
        """The link in the latest mail to `address` that has one with `path_part` (a notice such as
        "two-step verification turned on" may have come after it)."""
        found = self.to(address)
        assert found, f"no mail to {address}; have {[m['To'] for m in self.messages]}"
        for message in reversed(found):
            match = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", self.body(message))
            if match:
                return match.group(0)
        raise AssertionError(f"no link with {path_part} in: {self.body(found[-1])}")


@pytest.fixture(scope="session")
def smtp_server():
    sink = SmtpSink()
    with socket.socket() as probe:  # aiosmtpd needs a real port number to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.url = f"smtp://127.0.0.1:{port}"
    yield sink
    controller.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.messages.clear()
    return smtp_server


# --- the app ----------------------------------------------------------------------------------

@pytest.fixture
def app_overrides():
    """Override in a test module (or with indirect parametrisation) to change settings."""
    return {}


@pytest.fixture
def app(tmp_path, migrated_database, database_url, store, smtp, app_overrides):
    overrides = {
        "instance_path": str(tmp_path / "instance"),
        "keys_path": str(tmp_path / "keys"),
        "database_url": database_url,
        "smtp_url": smtp.url,
        "secret_key": secrets.token_urlsafe(32),
        "store": store,
        "TESTING": True,
    }
    overrides.update(app_overrides)
    app = create_app(overrides)
    yield app
    database = app.extensions["idp"].db
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    database.dispose()


@pytest.fixture
def services(app):
    return app.extensions["idp"]


@pytest.fixture
def db(services):
    session = services.db.session()
    yield session
    session.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- people and identities --------------------------------------------------------------------

def make_national_id(first: str, serial: int) -> str:
    from idp.identity.national_id import check_digit

    payload = f"{first}{serial:08d}"
    return payload + check_digit(payload)


@pytest.fixture
def people(db):
    """A small civil registry: two citizens and a resident with no identity yet. The citizens have
    a mobile in the registry (registration texts a code to it); the resident has none."""
    rows = [
        RegistryPerson(national_id=make_national_id("1", 1001), birth_date=dt.date(1990, 3, 15),
                       gender="M", name_ar="محمد عبدالله القحطاني", name_en="Mohammed Abdullah Alqahtani",
                       nationality="SAU", mobile="+966500001001"),
        RegistryPerson(national_id=make_national_id("1", 1002), birth_date=dt.date(1995, 8, 1),
                       gender="F", name_ar="نورة سعد العتيبي", name_en="Noura Saad Alotaibi",
                       nationality="SAU", mobile="+966500001002"),
        RegistryPerson(national_id=make_national_id("2", 2001), birth_date=dt.date(1985, 12, 31),
                       gender="M", name_ar="أحمد خان", name_en="Ahmed Khan", nationality="PAK"),
    ]
    db.add_all(rows)
    db.commit()
    return {"citizen": rows[0], "citizen2": rows[1], "resident": rows[2]}


STRONG_PASSWORD = "Palm-Dates-In-Qassim-2031"


class Identities:
    """Makes ready identities for tests, through the same services the web uses."""

    def __init__(self, services, db):
        self.services, self.db = services, db

    def make(self, person, username="citizen.one", password=STRONG_PASSWORD, email=None,
             mobile="0551234567", totp=True, active=True):
        """An identity; with TOTP (as every identity has a second factor) unless `totp=False`, which
        makes one as registered before registration asked for one: it sets one up at sign-in."""
        import pyotp

        from idp.identity import accounts, mfa
        from idp.identity import totp as totp_module

        identity = accounts.create(self.db, person, username, password,
                                   email or f"{username}@example.com", mobile, active=active)
        made = {"identity": identity, "username": identity.username, "password": password,
                "email": identity.email, "secret": None, "recovery_codes": []}
        if totp:
            secret = totp_module.new_secret()
            # Enrol one step in the past so that the current code stays usable by the test.
            import time
            at = time.time() - 30
            codes = mfa.enable_totp(self.db, self.services.store, self.services.fernet, identity, secret,
                                    pyotp.TOTP(secret).at(at))
            second_factor_codes.spent(secret, at)
            made.update(secret=secret, recovery_codes=codes)
        self.db.commit()
        made = type("MadeIdentity", (), made)
        if totp:
            second_factor_codes.remember(made)
        return made


@pytest.fixture
def identities(services, db):
    second_factor_codes.forget_all()
    return Identities(services, db)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class Web:
    """Drives the app as a browser would: GET the page, then POST its form with its CSRF token."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def submit(self, url, data, *, page=None, follow=False, headers=None):
        form_page = self.client.get(page or url)
        token = csrf_token(form_page.get_data(as_text=True))
        return self.client.post(url, data={"csrf_token": token, **data}, follow_redirects=follow,
                                headers=headers)

    def login(self, username, password, otp=None, next_url=None, second_factor=True):
        """Password, then `otp` — or, for an identity made by `identities`, a fresh code of its
        own unless `second_factor=False` (to stop at the second step)."""
        url = "/login" + (f"?next={next_url}" if next_url else "")
        response = self.submit(url, {"username": username, "password": password})
        made = second_factor_codes.made_for(username)
        if otp is None and second_factor and made is not None and response.status_code == 302 and \
                "/login/verify" in response.location:
            otp = second_factor_codes.code_for(made)
        if otp is not None:
            assert response.status_code == 302 and "/login/verify" in response.location, response.status_code
            response = self.submit("/login/verify", {"otp": otp})
        return response

    def logout(self, everywhere=False):
        return self.submit("/logout", {"everywhere": "1"} if everywhere else {})


@pytest.fixture
def web(client):
    return Web(client)


def current_totp(secret: str) -> str:
    """A code for `secret` not used before in this run (see tests/second_factor.py)."""
    import pyotp

    return second_factor_codes.fresh_totp(secret) or pyotp.TOTP(secret).now()


# --- OpenID Connect relying parties -----------------------------------------------------------

class RelyingPartyHelper:
    """Registers relying parties and plays their side of the code flow over HTTP."""

    REDIRECT_URI = "https://masar.example.gov.sa/callback"

    def __init__(self, app, services):
        self.app, self.services = app, services

    def register(self, **options):
        from idp.oidc import clients

        options.setdefault("name", "Masar")
        options.setdefault("redirect_uris", [self.REDIRECT_URI])
        options.setdefault("post_logout_redirect_uris", ["https://masar.example.gov.sa/bye"])
        options.setdefault("scopes", ["openid", "profile", "email", "phone"])
        with self.services.db.session() as session:
            rp, secret = clients.register_oidc(session, **options)
            session.commit()
            client_id = rp.client_id
        return type("Client", (), {"client_id": client_id, "secret": secret,
                                   "redirect_uri": options["redirect_uris"][0]})

    @staticmethod
    def pkce():
        import base64
        import hashlib

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return verifier, challenge

    def authorize_params(self, client, scope="openid profile email", **extra):
        verifier, challenge = self.pkce()
        params = {"client_id": client.client_id, "redirect_uri": client.redirect_uri, "response_type": "code",
                  "scope": scope, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(extra)
        return params, verifier

    @staticmethod
    def query(location: str) -> dict:
        from urllib.parse import parse_qs, urlsplit

        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def sign_in_and_authorize(self, web, client, made, scope="openid profile email", consent=True, **extra):
        """The whole front channel: authorize → sign in → consent → code. Returns (code, verifier, params)."""
        from urllib.parse import urlencode

        params, verifier = self.authorize_params(client, scope, **extra)
        response = web.get("/oidc/authorize?" + urlencode(params))
        if "/login" in response.headers.get("Location", ""):
            next_url = self.query(response.location)["next"]
            otp = current_totp(made.secret) if made.secret else None
            response = web.login(made.username, made.password, otp=otp, next_url=next_url)
            response = web.get(response.location)
        if consent and response.status_code == 200 and "decision" in response.get_data(as_text=True):
            page = response.get_data(as_text=True)
            action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
            response = web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "allow"})
        assert response.status_code == 303, (response.status_code, response.get_data(as_text=True)[:500])
        answer = self.query(response.location)
        assert answer.get("state") == params["state"], answer
        return answer.get("code"), verifier, params

    def exchange(self, client_http, client, code, verifier, redirect_uri=None, **extra):
        import base64

        data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": redirect_uri or client.redirect_uri}
        data.update(extra)
        headers = {}
        if client.secret and "client_secret" not in data and "client_assertion" not in data:
            basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        elif not client.secret:
            data.setdefault("client_id", client.client_id)
        data = {k: v for k, v in data.items() if v is not None}
        return client_http.post("/oidc/token", data=data, headers=headers)


@pytest.fixture
def signing_keys(services):
    services.keyring.generate("RS256")
    services.keyring.generate("ES256")
    return services.keyring


@pytest.fixture
def rps(app, services, signing_keys):
    return RelyingPartyHelper(app, services)


# --- SAML service providers ---------------------------------------------------------------------

@pytest.fixture
def saml_keys(services):
    return services.keyring.generate_saml("127.0.0.1")


@pytest.fixture
def saml_sp(client, services, saml_keys):
    """Makes python3-saml service providers registered with the IdP."""
    from idp.saml import sps
    from tests.saml.service_provider import ServiceProvider

    def make(register=True, sign_requests=True, want_encryption=False, **options):
        metadata = client.get("/saml/metadata").get_data(as_text=True)
        sp = ServiceProvider(metadata, sign_requests=sign_requests, want_encryption=want_encryption)
        if register:
            options.setdefault("require_signed_requests", sign_requests)
            with services.db.session() as session:
                sps.register_saml(session, name="Test SP", metadata_xml=sp.metadata(), **options)
                session.commit()
        return sp
    return make


def race_in_two_sessions(database, action):
    """(first, second): `action(session)` in two database sessions at once, the first committing
    only after the second has started, as two instances spending one value at the same moment."""
    first, second = database.session(), database.session()
    results = {}
    try:
        results["first"] = action(first)
        racer = threading.Thread(target=lambda: results.update(second=action(second)))
        racer.start()
        racer.join(0.5)
        first.commit()
        racer.join(30)
        second.commit()
    finally:
        first.close()
        second.close()
    return results["first"], results.get("second")


# --- a civil registry service (IDP_REGISTRY=http) -------------------------------------------------

@pytest.fixture(scope="session")
def registry_certificates(tmp_path_factory):
    from tests.registry_service import Certificates

    return Certificates(tmp_path_factory.mktemp("registry-tls"))


@pytest.fixture
def registry_service(registry_certificates):
    """A real registry service over mutual TLS on a loopback port (tests/registry_service.py)."""
    from tests.registry_service import RegistryService

    with RegistryService(registry_certificates) as service:
        yield service
