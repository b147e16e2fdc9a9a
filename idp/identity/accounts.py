"""Digital identities: creation from a registry match, password sign-in, password and email changes.

Functions take the SQLAlchemy session and do not commit, unless their name says they finish
something (the caller owns the transaction, so a failure anywhere leaves nothing half-written).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.errors import Conflict, N_, NotFound, ValidationError
from idp.identity import contact, passwords
from idp.identity.national_id import is_valid, normalise_digits
from idp.identity.registry import Person
from idp.models import Identity, utcnow


def find_by_login(session: Session, login: str) -> Identity | None:
    """A username or a national ID, as typed on the sign-in form."""
    login = (login or "").strip()
    if not login or len(login) > 64:
        return None
    digits = normalise_digits(login)
    if digits.isdigit():
        return session.scalar(select(Identity).where(Identity.national_id == digits)) if is_valid(digits) else None
    return session.scalar(select(Identity).where(Identity.username == login.lower()))


def get(session: Session, identity_id: int) -> Identity | None:
    return session.get(Identity, identity_id)


def get_by_uuid(session: Session, identity_uuid: str) -> Identity | None:
    """The identity a session or token refers to (its random uuid, never reused)."""
    if not isinstance(identity_uuid, str) or len(identity_uuid) != 36:
        return None
    return session.scalar(select(Identity).where(Identity.uuid == identity_uuid))


def find(session: Session, username_or_id: str) -> Identity:
    identity = find_by_login(session, username_or_id)
    if identity is None:
        raise NotFound(N_("No such identity."))
    return identity


def identity_exists_for(session: Session, national_id: str) -> bool:
    return (session.scalar(select(func.count()).select_from(Identity)
                          .where(Identity.national_id == national_id)) or 0) > 0


def username_taken(session: Session, username: str) -> bool:
    return (session.scalar(select(func.count()).select_from(Identity)
                          .where(Identity.username == username)) or 0) > 0


def check_new_credentials(session: Session, person: Person, username: str, password: str,
                          email: str, mobile: str | None) -> dict:
    """Normalise and check every field of a new identity; all errors at once, keyed by field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}  # str, or None for a missing mobile
    for field, normalise, raw in (("username", contact.normalise_username, username),
                                  ("email", contact.normalise_email, email),
                                  ("mobile", contact.normalise_mobile, mobile)):
        if raw is None and field == "mobile":  # an admin may create an identity without one
            values[field] = None
            continue
        try:
            values[field] = normalise(raw)  # type: ignore[arg-type]  # None only for mobile, handled above
        except ValidationError as e:
            errors[field] = e.message
    if "username" in values and username_taken(session, values["username"]):
        errors["username"] = N_("This username is taken; choose another.")
    try:
        passwords.check_password_policy(
            password, username=values.get("username", username or ""), national_id=person.national_id,
            email=values.get("email", ""), names=(person.name_ar, person.name_en))
    except ValidationError as e:
        errors["password"] = e.message
    if errors:
        raise FieldErrors(errors)
    return values


class FieldErrors(ValidationError):
    """Several fields were rejected; `errors` maps field name to message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values())), field=next(iter(errors)))
        self.errors = errors


def create(session: Session, person: Person, username: str, password: str, email: str,
           mobile: str | None, *, active: bool = False, proven_mobile: str | None = None) -> Identity:
    """A new identity for a registry person, keeping the registry's facts about them (and the
    registry mobile an SMS code proved, if one did); pending until its email is verified (unless
    `active`)."""
    if identity_exists_for(session, person.national_id):
        raise Conflict(N_("A digital identity already exists for this person. Sign in, or recover "
                          "your password."))
    values = check_new_credentials(session, person, username, password, email, mobile)
    identity = Identity(national_id=person.national_id, username=values["username"],
                        email=values["email"], mobile=values["mobile"], email_verified=active,
                        password_hash=passwords.hash_password(password),
                        status="active" if active else "pending")
    keep_registry_facts(identity, person, proven_mobile)
    session.add(identity)
    try:
        session.flush()
    except IntegrityError as e:  # a concurrent registration won the race: which one tells what to say
        session.rollback()
        if _violated_username(e):
            raise FieldErrors({"username": N_("This username is taken; choose another.")}) from None
        raise Conflict(N_("A digital identity already exists for this person. Sign in, or recover "
                          "your password.")) from None
    return identity


def keep_registry_facts(identity: Identity, person: Person, proven_mobile: str | None = None) -> None:
    """What the registry says of the person now becomes the identity's claims (OIDC, SAML, account)."""
    for fact in ("name_ar", "name_en", "birth_date", "gender", "nationality"):
        setattr(identity, fact, getattr(person, fact))
    identity.registry_checked_at = utcnow()
    identity.registry_mobile = proven_mobile


def _violated_username(error: IntegrityError) -> bool:
    """Whether the unique constraint that failed is the username's (PostgreSQL names the
    constraint; SQLite names the column in its message)."""
    diag = getattr(error.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if constraint:
        return "username" in constraint
    return "identities.username" in str(error.orig)


def authenticate(session: Session, login: str, password: str) -> Identity | None:
    """The identity whose password this is, or None."""
    return check_password(find_by_login(session, login), password)


def check_password(identity: Identity | None, password: str) -> Identity | None:
    """`identity` if `password` is its password, else None. Costs the same whether or not it exists."""
    if identity is None or len(password or "") > 1024:
        passwords.verify_dummy(password or "")
        return None
    if not passwords.verify_password(identity.password_hash, password):
        return None
    if passwords.needs_rehash(identity.password_hash):
        identity.password_hash = passwords.hash_password(password)
    return identity


def set_password(identity: Identity, new_password: str) -> None:
    passwords.check_password_policy(new_password, username=identity.username,
                                    national_id=identity.national_id, email=identity.email,
                                    names=(identity.name_ar, identity.name_en))
    identity.password_hash = passwords.hash_password(new_password)
    identity.password_changed_at = utcnow()


def change_password(identity: Identity, current_password: str, new_password: str) -> None:
    if not passwords.verify_password(identity.password_hash, current_password or ""):
        raise ValidationError(N_("Your current password is not correct."), field="current_password")
    if passwords.verify_password(identity.password_hash, new_password or ""):
        raise ValidationError(N_("Choose a password different from the current one."),
                              field="new_password")
    try:
        set_password(identity, new_password)
    except ValidationError as e:
        raise ValidationError(e.message, field="new_password") from None


def activate_email(identity: Identity, email: str | None = None) -> None:
    """The address was proven by a link sent to it: record it, and activate a pending identity."""
    if email:
        identity.email = email
    identity.email_verified = True
    if identity.status == "pending":
        identity.status = "active"
