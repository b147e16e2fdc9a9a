"""The session through HTTP: no row for a visitor who stores nothing, the cookie's hash as the key,
the identity named by its uuid, and no write for a request that changes nothing."""
import hashlib
import uuid

from sqlalchemy import func, select

from idp.identity.sessions import new_session_id, session_key
from idp.models import SignInSession


def rows(db) -> list[SignInSession]:
    db.expire_all()
    return db.scalars(select(SignInSession)).all()


def test_a_cookieless_visit_that_stores_nothing_makes_no_row_and_no_cookie(client, db):
    for path in ("/", "/healthz", "/.well-known/openid-configuration", "/no/such/page"):
        response = client.get(path)
        assert "Set-Cookie" not in response.headers, path
    assert db.scalar(select(func.count()).select_from(SignInSession)) == 0


def test_a_form_makes_one_anonymous_row_keyed_by_the_cookies_hash(client, db):
    client.get("/login")
    cookie = client.get_cookie("idp_session").value
    [row] = rows(db)
    assert row.key == hashlib.sha256(cookie.encode()).hexdigest() and row.identity_uuid is None
    assert cookie not in str(row.data)
    client.get("/login")  # the same visitor again: the same row
    assert [r.key for r in rows(db)] == [row.key]


def test_a_signed_in_session_names_the_identity_by_uuid_only(web, client, db, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    [row] = rows(db)  # the anonymous row of the sign-in form was replaced (new id at sign-in)
    assert row.key == session_key(client.get_cookie("idp_session").value)
    assert row.identity_uuid == made.identity.uuid == row.data["identity_uuid"]
    assert made.identity.id not in row.data.values() and "identity_id" not in row.data


def test_requests_within_a_minute_write_nothing(web, client, db, people, identities):
    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    web.get("/account")  # the first page with a form after sign-in stores a new CSRF secret
    [before] = rows(db)
    seen = before.seen
    for _ in range(3):
        assert web.get("/account").status_code == 200
    [after] = rows(db)
    assert after.seen == seen


def test_a_session_naming_an_unknown_uuid_or_an_integer_id_opens_nothing(app, client, people, identities):
    made = identities.make(people["citizen"])
    store = app.session_interface.sessions
    for data in ({"identity_uuid": str(uuid.uuid4())},   # an identity this database does not have
                 {"identity_id": made.identity.id}):        # the shape sessions had before uuids
        sid = new_session_id()
        assert store.create(sid, data)
        client.set_cookie("idp_session", sid)
        response = client.get("/account")
        assert response.status_code == 302 and "/login" in response.location


def test_a_request_in_flight_cannot_write_back_a_session_revoked_meanwhile(app, client, web, db, people,
                                                                            identities):
    from flask import request

    made = identities.make(people["citizen"])
    web.login(made.username, made.password)
    interface = app.session_interface
    cookie = client.get_cookie("idp_session").value
    with app.test_request_context("/account", headers={"Cookie": f"idp_session={cookie}"}):
        session = interface.open_session(app, request)
        assert session["identity_uuid"] == made.identity.uuid
        session["step"] = "changed in flight"                     # the request changes its session ...
        assert interface.sessions.revoke_all(db, made.identity.uuid) == 1  # ... as another one revokes it
        db.commit()
        response = app.response_class()
        interface.save_session(app, session, response)
    assert "idp_session=;" in response.headers["Set-Cookie"]    # the browser is told to drop it
    [row] = rows(db)
    assert row.revoked_at is not None and "step" not in row.data
    assert web.get("/account").status_code == 302
