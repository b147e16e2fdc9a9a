"""The civil registry as another agency's service, asked over mutual TLS (IDP_REGISTRY=http).

The API (JSON over HTTPS; the registry authenticates us by our client certificate, RFC 8446
§4.3.2, and we authenticate it against IDP_REGISTRY_CA):

    GET {IDP_REGISTRY_URL}/people/{national_id}      Accept: application/json

    200  {"national_id": "1000010012", "birth_date": "1990-03-15", "gender": "M",
          "name_ar": "محمد عبدالله القحطاني", "name_en": "Mohammed Abdullah Alqahtani",
          "nationality": "SAU", "mobile": "+966500001001"}      (mobile may be null or absent)
    404  no such person (the body is not read)

Every field is checked as the CSV import checks a row (registry.parse_person), and the answer must
be about the national ID asked for. Anything else — another status, a redirect, a body that is not
such an object, more than MAX_ANSWER_BYTES, a refused handshake, a timeout — raises
RegistryUnavailable: the person sees "try again in a few minutes", the log gets the kind of failure.

Birth date and gender are never sent: the match is decided here (registry.matches), so the
registry answers the same whatever was claimed, and one generic mismatch is all anyone learns.
Answers (404s too) are kept for IDP_REGISTRY_CACHE_SECONDS in a bounded in-process cache, so the
few steps of one registration ask once. Nothing here logs a national ID or what the registry said.

HTTP is the standard library's (urllib, as the SMS gateway's): no dependency beyond Python's ssl.
The timeout bounds the connection and each read, so a stalled registry costs a request seconds.
"""
from __future__ import annotations

import collections
import datetime as dt
import http.client
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote

from idp.errors import ValidationError
from idp.identity.national_id import is_valid
from idp.identity.registry import Person, RegistryUnavailable, matches, parse_person

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 16 * 1024  # a person is a few hundred bytes; more is not an answer
CACHE_ENTRIES = 10_000  # at 60 s a person, far more than the registrations of a minute


class HttpRegistry:
    """A CivilRegistry over HTTP(S). `tls` is the client context (our certificate, the CA to trust)
    built by registry_client; `clock` is injectable so that tests can expire the cache."""

    def __init__(self, base_url: str, tls: ssl.SSLContext | None, timeout_seconds: float = 3,
                 cache_seconds: float = 60, clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds
        self.cache = TtlCache(cache_seconds, CACHE_ENTRIES, clock)
        handlers: list = [_NoRedirect]
        if tls is not None:
            handlers.append(urllib.request.HTTPSHandler(context=tls))
        self._opener = urllib.request.build_opener(*handlers)

    def find(self, national_id: str) -> Person | None:
        if not is_valid(national_id):
            return None
        found, person = self.cache.get(national_id)
        if not found:
            person = self._ask(national_id)
            self.cache.put(national_id, person)
        return person

    def match(self, national_id: str, birth_date: dt.date, gender: str) -> Person | None:
        return matches(self.find(national_id), birth_date, gender)

    def _ask(self, national_id: str) -> Person | None:
        # S310: the URL's scheme is checked at start-up (settings: https, or http on loopback)
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}/people/{quote(national_id)}", headers={"Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 404:
                return None
            raise _unavailable(f"HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            # TimeoutError and ssl.SSLError are OSErrors; URLError wraps what failed while connecting;
            # HTTPException: not HTTP at all (BadStatusLine) or a body cut short (IncompleteRead).
            reason = getattr(e, "reason", None) or e
            raise _unavailable(_describe(reason)) from None
        return _person(body, national_id)


def _person(body: bytes, national_id: str) -> Person:
    if len(body) > MAX_ANSWER_BYTES:
        raise _unavailable("answer too large")
    try:
        answer = json.loads(body)
    except ValueError:
        raise _unavailable("answer is not JSON") from None
    if not isinstance(answer, dict):
        raise _unavailable("answer is not a JSON object")
    try:
        person = parse_person(answer)
    except ValidationError as e:
        raise _unavailable(f"answer is not a person ({e.message})") from None
    if person.national_id != national_id:
        raise _unavailable("answer is about another national ID")
    return person


def _describe(reason: object) -> str:
    """The kind of failure, for the log: the exception's class and text, which name no person."""
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS: {reason.reason or reason}"
    return f"{type(reason).__name__}: {reason}"[:200]


def _unavailable(reason: str) -> RegistryUnavailable:
    log.warning("civil registry unavailable: %s", reason)
    return RegistryUnavailable(reason)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx becomes an HTTPError: an answer we do not use


class TtlCache:
    """At most `entries` answers, each for `seconds` (0: none kept); the oldest go first. A lock,
    since a worker's threads share one registry."""

    def __init__(self, seconds: float, entries: int, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.entries, self.clock = seconds, entries, clock
        self._items: collections.OrderedDict[str, tuple[float, Person | None]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Person | None]:
        """(found, value): a cached None (no such person) is found too."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return False, None
            if self.clock() >= item[0]:
                del self._items[key]
                return False, None
            return True, item[1]

    def put(self, key: str, value: Person | None) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (self.clock() + self.seconds, value)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
