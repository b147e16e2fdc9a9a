"""SQL statements and store (Redis) round trips per sign-in page, for a new browser signing in
with its password and a TOTP code — the cold flow of `make bench` (issue 10). Each is a round trip
on every sign-in of the country, so a change that adds one makes this test fail; one that removes
one makes it fail too, until the bound below is lowered to keep guarding the saving.

Statements are counted on the app's own engine (SQLAlchemy's `before_cursor_execute`, which sees
the session store's statements too); store round trips at the store's interface, where each call
is one Redis command or one pipeline."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import csrf_token
from tests.oidc.test_statement_counts import StatementLog

# request → (SQL statements, store round trips)
BOUNDS = {
    # the session row (made by the authorization request, with the form's CSRF secret: not written
    # again), the relying party named on the page
    "GET /login": (2, 0),
    # the session row read and written, the identity, its locks; the throttle's counters (one MGET),
    # its one-attempt-at-a-time slot taken and given back
    "POST /login": (4, 3),
    "GET /login/verify": (1, 0),  # the session row
    # the session row read, the identity, its locks (the source's and the second factor's, in one
    # read, not read again at the success), the TOTP step spent, the audit event, this browser
    # remembered (one upsert), the session row taking its new id (one update); the throttle's slot
    # taken, the failure counters forgotten
    "POST /login/verify": (7, 2),
}
STORE_CALLS = ("get", "get_many", "set", "add", "replace", "pop", "delete", "incr", "ttl", "sadd", "srem", "smembers")


class StoreLog:
    """Calls to the store while `counting`: one Redis round trip each (RedisStore's multi-command
    methods send one pipeline)."""

    def __init__(self, store):
        self.store, self.calls, self.active = store, [], False
        for name in STORE_CALLS:
            setattr(store, name, self._counted(name, getattr(store, name)))

    def _counted(self, name, method):
        def counted(*args, **kwargs):
            if self.active:
                self.calls.append(f"{name} {args[0] if args else ''}"[:60])
            return method(*args, **kwargs)
        return counted

    def close(self):
        for name in STORE_CALLS:
            delattr(self.store, name)


@pytest.fixture
def round_trips(services):
    statements, store = StatementLog(services.db.engine), StoreLog(services.store)
    yield statements, store
    statements.close()
    store.close()


def counted(round_trips, name, request):
    statements, store = round_trips
    statements.statements, statements.active, store.calls, store.active = [], True, [], True
    try:
        response = request()
    finally:
        statements.active = store.active = False
    listing = (f"{name}: {len(statements.statements)} statements, {len(store.calls)} store calls:\n"
               + "\n".join(statements.statements) + "\n--\n" + "\n".join(store.calls))
    expected = BOUNDS[name]
    assert len(statements.statements) <= expected[0] and len(store.calls) <= expected[1], \
        "more than BOUNDS says\n" + listing
    assert (len(statements.statements), len(store.calls)) == expected, \
        "fewer than BOUNDS says: lower it\n" + listing
    return response


def test_a_new_browser_signs_in_with_password_and_code(web, rps, people, identities, round_trips):
    made = identities.make(people["citizen"])
    rp = rps.register()
    params, _verifier = rps.authorize_params(rp)
    response = web.get("/oidc/authorize?" + urlencode(params))
    login_url = response.location
    assert "/login" in login_url

    page = counted(round_trips, "GET /login", lambda: web.get(login_url))
    assert page.status_code == 200
    response = counted(round_trips, "POST /login", lambda: web.client.post(login_url, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": made.username,
        "password": made.password}))
    assert response.status_code == 302 and "/login/verify" in response.location
    page = counted(round_trips, "GET /login/verify", lambda: web.get(response.location))
    assert page.status_code == 200
    from tests.second_factor import code_for
    response = counted(round_trips, "POST /login/verify", lambda: web.client.post("/login/verify", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "otp": code_for(made)}))
    assert response.status_code == 302 and "/oidc/authorize" in response.location
