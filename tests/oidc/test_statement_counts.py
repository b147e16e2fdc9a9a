"""SQL statements per OpenID Connect endpoint: every query is a database round trip on every
request, so a change that adds one makes this test fail (issue 10). Counted on the app's own
engine with SQLAlchemy's `before_cursor_execute` event, through HTTP, signed in and consented
beforehand so that only the endpoint itself is counted. Connections taken from the pool are
counted too: a request uses one for its session row and one for everything else (a session per
lookup costs a checkout, a BEGIN and a ROLLBACK each, which no statement count shows)."""
from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from sqlalchemy import event

# The statements each endpoint runs: more fails the test, and so does fewer (lower the bound then,
# so that it keeps guarding the saving).
BOUNDS = {"discovery": 0, "jwks": 0, "authorize": 4, "token": 4, "refresh": 4, "userinfo": 1}
# Most pool checkouts per request: the sign-in session's own (a browser request) plus the request's
# session, whose one transaction writes the token family or refresh token with the audit record;
# where keys are read (JWKS, ID tokens) one more, when the key ring checks for new keys.
CHECKOUTS = {"discovery": 0, "jwks": 1, "authorize": 2, "token": 2, "refresh": 1, "userinfo": 1}


class StatementLog:
    """The SQL statements the app's engine sends while `counting` is open."""

    def __init__(self, engine):
        self.engine, self.statements, self.active, self.checkouts = engine, [], False, 0
        event.listen(engine, "before_cursor_execute", self._record)
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, _dbapi_connection, _record, _proxy):
        if self.active:
            self.checkouts += 1

    def _record(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        # Not counted: the key ring's "did the keys change?" check, at most every few seconds per
        # process (IDP_KEYS_REFRESH_SECONDS), whatever the request rate.
        if self.active and "signing_keys" not in statement:
            self.statements.append(" ".join(statement.split()))

    def counting(self):
        log = self

        class Counting:
            def __enter__(self):
                log.statements, log.checkouts, log.active = [], 0, True
                return log

            def __exit__(self, *_exc):
                log.active = False

        return Counting()

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._record)
        event.remove(self.engine, "checkout", self._checkout)


@pytest.fixture
def statements(services):
    log = StatementLog(services.db.engine)
    yield log
    log.close()


@pytest.fixture
def signed_in(web, rps, people, identities):
    """A signed-in citizen who has already consented to the relying party (one full flow)."""
    made = identities.make(people["citizen"])
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    assert rps.exchange(web.client, rp, code, verifier).status_code == 200
    return rp


def authorize(web, rps, rp):
    params, verifier = rps.authorize_params(rp)
    response = web.get("/oidc/authorize?" + urlencode(params))
    assert response.status_code == 303, response.status_code
    code = rps.query(response.location)["code"]
    return code, verifier


def refresh(client, rp, refresh_token):
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    return client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                       headers={"Authorization": f"Basic {basic}"})


def within(name, log):
    listing = f"{name}: {len(log.statements)} statements:\n" + "\n".join(log.statements)
    assert len(log.statements) <= BOUNDS[name], listing
    assert len(log.statements) == BOUNDS[name], "fewer statements than BOUNDS says: lower it\n" + listing
    assert log.checkouts <= CHECKOUTS[name], f"{name}: {log.checkouts} pool checkouts"


@pytest.mark.parametrize("path,name", [("/.well-known/openid-configuration", "discovery"),
                                       ("/oidc/jwks", "jwks")])
def test_discovery_and_keys_run_no_query(client, signing_keys, statements, path, name):
    with statements.counting() as log:
        assert client.get(path).status_code == 200
    within(name, log)


def test_signed_in_code_flow(web, rps, signed_in, statements):
    with statements.counting() as log:
        code, verifier = authorize(web, rps, signed_in)
    within("authorize", log)
    with statements.counting() as log:
        response = rps.exchange(web.client, signed_in, code, verifier)
        assert response.status_code == 200
    within("token", log)
    tokens = response.get_json()
    with statements.counting() as log:
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        answer = web.client.get("/oidc/userinfo", headers=bearer)
        assert answer.status_code == 200
    within("userinfo", log)
    with statements.counting() as log:
        assert refresh(web.client, signed_in, tokens["refresh_token"]).status_code == 200
    within("refresh", log)


def test_the_counter_sees_the_queries_it_bounds(web, rps, signed_in, statements):
    """The count is not trivially zero: an authorization request does read the database."""
    with statements.counting() as log:
        authorize(web, rps, signed_in)
    assert any("relying_parties" in s for s in log.statements)
