"""Delivering back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.7).

Off the request path: a queue table (idp.models.LogoutDelivery) worked by a background thread of
each web instance, woken after a commit that queued something, or by `idp logout deliver` (cron).
Each attempt signs the token afresh (iat now, the same jti), POSTs it, and is one audit event.
A portal that does not answer 2xx is tried again after a doubling delay, up to a bound of
attempts; then the delivery is given up (and that is audited too). Redirects are not followed.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from sqlalchemy import select

from idp import audit
from idp.models import LogoutDelivery, utcnow

log = logging.getLogger(__name__)
BATCH = 20


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer other than 2xx, not somewhere else to post the token


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_logout_token(uri: str, token: str, timeout: float) -> int:
    """POST `logout_token` (§2.5); the HTTP status, or an OSError when the portal can't be reached."""
    request = urllib.request.Request(  # noqa: S310 - registered URI, https or loopback (clients.check_uri)
        uri, data=urlencode({"logout_token": token}).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


class Deliverer:
    """Works the queue of one database with one key ring and issuer."""

    def __init__(self, session_factory, keyring, issuer: str, *, max_attempts: int, retry_seconds: int,
                 timeout_seconds: int, post=post_logout_token):
        self.session_factory = session_factory
        self.keyring = keyring
        self.issuer = issuer
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.timeout_seconds = timeout_seconds
        self.post = post
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass ---------------------------------------------------------------------------------

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Attempt every delivery that is due; returns how many were attempted."""
        attempted = 0
        while True:
            with self.session_factory() as session:
                rows = self._claim(session, now or utcnow())
                for row in rows:
                    self._attempt(session, row)
                session.commit()
            attempted += len(rows)
            if len(rows) < BATCH:
                return attempted

    def _claim(self, session, now):
        """Due rows, locked so that two instances never send the same one at once."""
        query = (select(LogoutDelivery).where(LogoutDelivery.state == "pending", LogoutDelivery.next_attempt_at <= now)
                 .order_by(LogoutDelivery.next_attempt_at).limit(BATCH))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def _attempt(self, session, row: LogoutDelivery) -> None:
        row.attempts += 1
        status, error = self._send(row)
        if error is None:
            row.state, outcome = "delivered", "delivered"
        elif row.attempts >= self.max_attempts:
            row.state, outcome = "failed", "gave_up"
        else:
            outcome = "retry"
            row.next_attempt_at = utcnow() + dt.timedelta(seconds=self.retry_seconds * 2 ** (row.attempts - 1))
        row.last_error = error
        audit.record(session, "oidc.backchannel_logout", audit.Actor(), row.identity_id, client_id=row.client_id,
                     delivery=row.id, attempt=row.attempts, outcome=outcome, status=status, error=error)

    def _send(self, row: LogoutDelivery) -> tuple[int | None, str | None]:
        """(HTTP status, None) on a 2xx answer; else (status or None, what went wrong)."""
        claims = dict(row.claims, iss=self.issuer, iat=int(time.time()))
        try:
            token = self.keyring.sign(claims, alg=row.alg, typ="logout+jwt")
        except Exception as e:  # no active key for the portal's alg: a later attempt may have one
            log.error("cannot sign a logout token with %s: %s", row.alg, type(e).__name__)
            return None, f"signing failed: {type(e).__name__}"
        try:
            status = self.post(row.uri, token, self.timeout_seconds)
        except (OSError, ValueError) as e:  # refused, timed out, TLS, a bad URI
            reason = getattr(e, "reason", e)  # urllib wraps the socket's error in a URLError
            return None, type(reason if isinstance(reason, Exception) else e).__name__
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    def next_due_in(self) -> float | None:
        """Seconds until the next pending delivery is due; None when nothing is pending."""
        with self.session_factory() as session:
            due = session.scalar(select(LogoutDelivery.next_attempt_at).where(LogoutDelivery.state == "pending")
                                 .order_by(LogoutDelivery.next_attempt_at).limit(1))
        if due is None:
            return None
        if due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        return max(0.0, (due - utcnow()).total_seconds())

    # --- the background thread ------------------------------------------------------------------

    def wake(self) -> None:
        """Deliver soon, in a daemon thread that lives while something is pending."""
        with self._lock:
            self._wanted.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="logout-delivery", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the background thread to finish (tests, shutdown); False if it is still busy."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        while True:
            self._wanted.clear()
            try:
                self.deliver_due()
                wait = self.next_due_in()
            except Exception:  # the database went away: the next wake (or `idp logout deliver`) retries
                log.exception("back-channel logout delivery failed; will retry at the next wake")
                wait = None
            if wait is None:
                with self._lock:
                    if not self._wanted.is_set():
                        self._thread = None
                        return
                continue
            self._wanted.wait(min(wait, 60.0))


def from_services(services) -> Deliverer:
    s = services.settings
    return Deliverer(services.db.session, services.keyring, s.issuer, max_attempts=s.backchannel_logout_attempts,
                     retry_seconds=s.backchannel_logout_retry_seconds,
                     timeout_seconds=s.backchannel_logout_timeout_seconds)


def start(services) -> Deliverer:
    """This instance's deliverer, woken after every commit that queues a logout token."""
    from idp.oidc import backchannel

    deliverer = from_services(services)
    backchannel.on_queued(services.db.engine, deliverer.wake)
    return deliverer
