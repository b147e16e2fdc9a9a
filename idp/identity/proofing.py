"""Identity proofing at registration: who may hold the digital identity of a registry person.

Knowing a national ID, birth date and gender proves nothing (none is secret); holding the mobile
the civil registry lists for the person does (`mobile_proof`, NIST SP 800-63A §5.3.3). So:

- a registration nobody confirmed within `email_verification_hours` is discarded, never blocking
  the person it names;
- a person who proved the registry's mobile may take back an identity someone else registered
  for them: new credentials replace the old, the second factor and remembered devices are reset,
  consents dropped, and its uuid changes so that no session or token made before can find it,
  and its sessions and tokens end in the same transaction (`register`). The caller tells the old
  address after the commit.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp.errors import N_, Conflict, Throttled
from idp.identity import accounts, devices, mfa, passwords
from idp.identity.mobile_proof import MobileProof
from idp.identity.registry import CivilRegistry, Person
from idp.identity.sessions import SessionStore
from idp.identity.sign_out import sign_out_everywhere
from idp.identity.sms import SmsSender
from idp.identity.throttle import LoginThrottle
from idp.models import Consent, Identity, Passkey, PasskeyHandle, utcnow
from idp.outcomes import WHOLE, Outcome

LOCKED = N_("This digital identity is locked. Contact support to take it back.")


# Why step 1 refused (`Outcome.value` of a refusal): the web picks the page for each.
THROTTLED, MISMATCH, NO_MOBILE = "throttled", "mismatch", "no_mobile"
DETAILS_DO_NOT_MATCH = N_("These details do not match the civil registry. Check them and try again.")
NO_MOBILE_ON_RECORD = N_("We cannot confirm it is you online")


def check_person(registry: CivilRegistry, throttle: LoginThrottle, national_id: str, birth_date: dt.date,
                 gender: str, ip: str) -> Outcome:
    """Registration's step 1: do the three details name one registry person? Birth dates are
    guessable, so misses are counted per national ID like sign-in failures (NIST SP 800-63B
    §5.2.2), and one message never says which detail did not match. `value`: the person; for a
    refusal, (why, the throttle's answer or None): THROTTLED, MISMATCH or NO_MOBILE. RegistryUnavailable
    goes to the caller: nothing of the step is kept."""
    guesses = f"registration:{national_id}"
    try:
        throttle.check(guesses, ip)
    except Throttled as e:
        return Outcome(False, errors={WHOLE: e.message}, value=(THROTTLED, e))
    person = registry.match(national_id, birth_date, gender)
    if person is None:
        throttle.record_failure(guesses, ip)
        return Outcome(False, "registration.registry_mismatch", errors={WHOLE: DETAILS_DO_NOT_MATCH},
                       value=(MISMATCH, None))
    throttle.release(guesses)
    if person.mobile is None:  # the mobile is what proves the person (module docstring): none, no proof online
        return Outcome(False, "registration.registry_has_no_mobile", errors={WHOLE: NO_MOBILE_ON_RECORD},
                       value=(NO_MOBILE, None))
    return Outcome(True, value=person)


def expire_pending(session: Session, national_id: str, pending_hours: int) -> Outcome:
    """`discard_expired_pending`, as the outcome to record ("registration.pending_expired" when it did)."""
    if discard_expired_pending(session, national_id, pending_hours):
        return Outcome.done("registration.pending_expired", None)
    return Outcome(True)


def send_mobile_code(proof: MobileProof, flow_id: str, person: Person, sender: SmsSender,
                     text: Callable[[str], str]) -> Outcome:
    """A new code by SMS to the mobile the registry lists for `person` (the proof of the module
    docstring), limited per person by `proof`. `value`: whether the gateway took the text; a
    refusal's: the throttle's answer."""
    try:
        sent = proof.send(flow_id, person.national_id, person.mobile or "", sender, text)
    except Throttled as e:
        return Outcome(False, errors={WHOLE: e.message}, value=e)
    return Outcome.done("registration.mobile_code_sent", None, sent)


def prove_mobile(proof: MobileProof, flow_id: str, code: str | None, person: Person) -> Outcome:
    """The code entered for this registration's flow, sent to `person`'s mobile."""
    check = proof.check(flow_id, code)
    if not check.ok or check.national_id != person.national_id:
        return Outcome.refused("code", N_("This code no longer works. Ask for a new one.") if check.spent
                               else N_("That code is not correct. Check the SMS and try again."))
    return Outcome.done("registration.mobile_proven", None)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite: naive UTC


def discard_expired_pending(session: Session, national_id: str, pending_hours: int) -> bool:
    """Delete the identity for `national_id` if nobody confirmed it within `pending_hours`: an
    abandoned or squatted registration expires and never blocks the person. True if it did."""
    identity = existing_identity(session, national_id)
    if identity is None or identity.status != "pending" or identity.email_verified:
        return False
    if utcnow() - _aware(identity.created_at) <= dt.timedelta(hours=pending_hours):
        return False
    session.delete(identity)
    session.flush()
    return True


def existing_identity(session: Session, national_id: str) -> Identity | None:
    return session.scalar(select(Identity).where(Identity.national_id == national_id))


def reclaim(session: Session, identity: Identity, person: Person, username: str, password: str,
            email: str, mobile: str | None, proven_mobile: str | None = None) -> str:
    """Give `identity` to the person who proved the registry's mobile; returns the old email.
    The registry's facts are taken again. Pending until the new email is confirmed. Does not commit."""
    if identity.status == "locked":
        raise Conflict(LOCKED)
    old_email = identity.email
    values = accounts.check_new_credentials(session, person, username, password, email, mobile)
    mfa.disable_totp(session, identity)
    devices.forget_all(session, identity.id)
    session.execute(delete(Consent).where(Consent.identity_id == identity.id))
    # The previous holder's passkeys would otherwise still sign in as the identity taken back.
    session.execute(delete(Passkey).where(Passkey.identity_id == identity.id))
    session.execute(delete(PasskeyHandle).where(PasskeyHandle.identity_id == identity.id))
    identity.uuid = str(uuid.uuid4())  # every session and token that referred to it is now dangling
    identity.username = values["username"]
    identity.email = values["email"]
    identity.email_verified = False
    identity.mobile = values["mobile"]
    identity.password_hash = passwords.hash_password(password)
    identity.password_changed_at = utcnow()
    identity.status = "pending"
    accounts.keep_registry_facts(identity, person, proven_mobile)
    session.flush()
    return old_email


def register(session: Session, sessions: SessionStore, person: Person, existing: Identity | None,
             username: str, password: str, email: str, mobile: str | None,
             proven_mobile: str | None = None) -> Outcome:
    """Registration's last step, for a person who proved the registry's mobile: a new identity, or
    `existing` taken back (its sessions and tokens ending in this transaction). `value`: (the
    identity, the old email of a reclaimed one or None). A refusal leaves the caller to roll back."""
    try:
        if existing is None:
            identity = accounts.create(session, person, username, password, email, mobile,
                                       proven_mobile=proven_mobile)
            return Outcome.done("identity.registered", identity.id, value=(identity, None))
        sign_out_everywhere(session, sessions, existing)
        old_email = reclaim(session, existing, person, username, password, email, mobile, proven_mobile)
        return Outcome.done("identity.reclaimed", existing.id, value=(existing, old_email))
    except accounts.FieldErrors as e:
        return Outcome(False, errors=e.errors)
    except Conflict as e:  # registered meanwhile, or locked: no field of the form can fix it
        return Outcome.refused(WHOLE, e.message)
