"""idp demo …: make a fresh install ready to try (make demo). Never for production data."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import re
import secrets
from pathlib import Path

import click
import pyotp
from cryptography.fernet import InvalidToken
from sqlalchemy import func, literal, select, update

from idp.cli import emit, fail, json_option, services
from idp.identity import accounts, mfa, registry, totp
from idp.identity.birthdate import format_hijri
from idp.models import Identity, OutboxMail, RegistryPerson

DEMO_PEOPLE = 1000
DEMO_SEED = 2026
DEMO_USERNAME = "demo.citizen"


@click.group("demo")
def group():
    """A ready-to-try installation: a synthetic registry and one demo identity."""


def _credentials_path() -> Path:
    return Path(services().settings.instance_path) / "demo-credentials.json"


@group.command("setup")
@json_option
def setup(as_json):
    """Seed a synthetic registry and create the demo identity (idempotent); print how to try it."""
    s = services()
    _signing_keys(s.keyring)
    with s.db.session() as db:
        if db.scalar(select(func.count()).select_from(RegistryPerson)) < DEMO_PEOPLE:
            registry.seed(s.db, DEMO_PEOPLE, seed=DEMO_SEED)
        _give_mobiles(db)
        credentials = _demo_identity(db)
        unregistered = db.scalars(
            select(RegistryPerson).where(~RegistryPerson.national_id.in_(select(Identity.national_id)))
            .order_by(RegistryPerson.national_id).limit(3)).all()
        people = [{"national_id": p.national_id, "birth_date": p.birth_date.isoformat(),
                   "birth_date_hijri": format_hijri(p.birth_date), "gender": p.gender,
                   "name_en": p.name_en, "name_ar": p.name_ar, "mobile": p.mobile} for p in unregistered]
    result = {"idp": s.settings.issuer, "demo_identity": credentials, "people_to_register": people}
    emit(result, as_json, _describe(result))


def _give_mobiles(db) -> None:
    """Demo people seeded before the registry had mobiles get one (registration texts a code to it)."""
    db.execute(update(RegistryPerson).where(RegistryPerson.mobile.is_(None))
               .values(mobile=literal("+9665").concat(func.substr(RegistryPerson.national_id, 3, 8))))
    db.commit()


def _signing_keys(keyring) -> None:
    """An active RS256 and ES256 key, made on the first run only."""
    active = {entry["alg"] for entry in keyring.list() if entry["state"] == "active"}
    for alg in ("RS256", "ES256"):
        if alg not in active:
            keyring.generate(alg)


def _demo_identity(db) -> dict:
    path = _credentials_path()
    if path.exists():
        saved = json.loads(path.read_text())
        if accounts.find_by_login(db, saved["username"]) is not None:
            return saved
    person = db.scalar(select(RegistryPerson).where(RegistryPerson.national_id.like("1%"),
                                                    ~RegistryPerson.national_id.in_(select(Identity.national_id)))
                       .order_by(RegistryPerson.national_id))
    existing = accounts.find_by_login(db, DEMO_USERNAME)
    if existing is not None:  # credentials file lost: start the demo identity again
        db.delete(existing)
        db.flush()
    password = "-".join(secrets.token_urlsafe(5) for _ in range(4))
    identity = accounts.create(db, registry.Person.from_row(person), DEMO_USERNAME, password,
                               "demo.citizen@example.com", "0500000001", active=True)
    secret = totp.new_secret()
    mfa.enable_totp(db, services().store, services().fernet, identity, secret, pyotp.TOTP(secret).now())
    db.commit()
    saved = {"username": DEMO_USERNAME, "password": password, "totp_secret": secret,
             "national_id": person.national_id}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f)
    return saved


def _describe(result: dict) -> str:
    c = result["demo_identity"]
    lines = [
        "", f"  Identity provider: {result['idp']}", "",
        f"  Demo identity:  username {c['username']}   password {c['password']}",
        f"  Second factor:  TOTP key {c['totp_secret']} (add it to an authenticator app),",
        "                  or print the current code with: .venv/bin/idp demo code", "",
        "  People in the synthetic civil registry you can register as:",
    ]
    for p in result["people_to_register"]:
        lines.append(f"    national ID {p['national_id']}  born {p['birth_date']} "
                     f"(Hijri {p['birth_date_hijri']})  gender {p['gender']}  {p['name_en']}  mobile {p['mobile']}")
    lines.append("  Mail (links to confirm email and reset passwords) is written to instance/outbox/.")
    lines.append("  SMS (the registration code sent to the registry's mobile) is written to instance/sms-outbox/.")
    return "\n".join(lines) + "\n"


@group.command("code")
@json_option
def code(as_json):
    """Print the demo identity's current TOTP code (reads only the demo credentials file)."""
    path = _credentials_path()
    if not path.exists():
        fail("no demo identity here; run: idp demo setup")
    saved = json.loads(path.read_text())
    current = pyotp.TOTP(saved["totp_secret"]).now()
    emit({"username": saved["username"], "code": current}, as_json, current)


@group.command("mail")
@click.option("--last", default=3, show_default=True, type=click.IntRange(1, 50), help="How many mails.")
def mail(last):
    """The latest mails in plain text, links on lines of their own: those still waiting in the
    outbox table (decrypted with the data key) and those written to the file outbox (.eml, whose
    bodies are base64 and unreadable with `cat`). For trying the demo only."""
    s = services()
    found = _waiting_mails(s, last) + _written_mails(Path(s.settings.outbox_path), last)
    if not found:
        click.echo("No mail yet.")
        return
    for at, to, subject, body in sorted(found, key=lambda m: m[0], reverse=True)[:last]:
        click.echo(f"--- {at:%Y-%m-%d %H:%M:%S} UTC  to {to}\nSubject: {subject}\n\n{body.strip()}\n")
        for link in MAIL_LINK.findall(body):
            click.echo(f"Link: {link}")
        click.echo("")


MAIL_LINK = re.compile(r"https?://[^\s<>\"']+")


def _waiting_mails(s, last: int) -> list[tuple]:
    queue = s.mailer.queue
    if queue is None:
        return []
    with s.db.session() as db:
        rows = db.scalars(select(OutboxMail).where(OutboxMail.body != "").order_by(OutboxMail.created_at.desc())
                          .limit(last)).all()
        found = []
        for row in rows:
            try:
                body = queue.fernet.decrypt(row.body.encode()).decode()
            except InvalidToken:
                body = "(cannot be read: the data key changed)"
            found.append((_utc(row.created_at), row.recipient, row.subject, body))
        return found


def _written_mails(folder: Path, last: int) -> list[tuple]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml"))[-last:]:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(("plain",))
        body = part.get_content() if part is not None else ""
        at = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        found.append((at, str(message["To"]), str(message["Subject"]), body))
    return found


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
