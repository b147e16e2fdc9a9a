"""IdP-initiated Single Logout (SAML Profiles §4.4, issue 11): when the IdP session ends in a
browser, each SAML SP it signed in to gets a signed LogoutRequest (HTTP-Redirect) in turn, checked
here by python3-saml as the SP would; an SP without a SingleLogoutService is audited as unreachable."""
from urllib.parse import parse_qs, urlsplit

from tests.saml.service_provider import BASE
from tests.saml.test_sso import follow_to_form, local


def signed_in_to(web, sp, made):
    form, _ = follow_to_form(web, sp.login_url(), made)
    return sp.accept(form["SAMLResponse"], sp.last_request_id).get_nameid()


def audited(db, kind):
    from idp.models import AuditEvent
    db.rollback()
    # Without the request id every event carries (it ties an event to its log lines).
    return [{k: v for k, v in e.detail.items() if k != "request_id"}
            for e in db.query(AuditEvent).filter_by(kind=kind).order_by(AuditEvent.id)]


def test_signing_out_sends_the_sp_a_signed_logout_request_and_comes_back(web, saml_sp, people, identities, db):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    name_id = signed_in_to(web, sp, made)
    response = web.logout()
    assert response.status_code == 303 and response.location.endswith("/saml/logout/next")
    to_sp = web.get(response.location)
    assert to_sp.status_code == 303 and to_sp.location.startswith(BASE + "/saml/sls?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(to_sp.location).query).items()}
    assert query["SigAlg"].endswith("rsa-sha256") and query["Signature"]
    auth = sp._auth("/saml/sls", get=query)  # python3-saml: signature, destination, issuer
    back = auth.process_slo(delete_session_cb=lambda: None)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert name_id
    done = web.get(local(back))
    assert done.status_code == 303 and done.location.endswith("/saml/logout/next")
    page = web.get(done.location)
    assert page.status_code == 200 and web.get("/account").status_code == 302
    assert audited(db, "saml.logout_answered") == [{"entity_id": sp.settings["sp"]["entityId"], "ok": True,
                                                     "reason": None}]


def test_a_replayed_answer_is_refused(web, saml_sp, people, identities, db):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    signed_in_to(web, sp, made)
    to_sp = web.get(web.logout().location)
    query = {k: v[0] for k, v in parse_qs(urlsplit(to_sp.location).query).items()}
    back = sp._auth("/saml/sls", get=query).process_slo(delete_session_cb=lambda: None)
    web.get(local(back))
    again = web.get(local(back))  # the same answer a second time: no round is waiting for it
    assert again.status_code == 400
    assert [a["ok"] for a in audited(db, "saml.logout_answered")] == [True]


def test_an_sp_without_a_single_logout_service_is_recorded_unreachable(web, saml_sp, people, identities, db):
    made = identities.make(people["citizen"])
    sp = saml_sp(register=False)
    del sp.settings["sp"]["singleLogoutService"]
    from idp.saml import sps
    with db.begin_nested():
        sps.register_saml(db, name="No SLO SP", metadata_xml=sp.metadata(), require_signed_requests=True)
    db.commit()
    signed_in_to(web, sp, made)
    page = web.get(web.logout().location)
    assert page.status_code == 200  # straight to the signed-out page
    assert audited(db, "saml.logout_unreachable")[0]["entity_id"] == sp.settings["sp"]["entityId"]


def test_saml_sps_are_listed_under_connected_services(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    signed_in_to(web, sp, made)
    assert "Test SP" in web.get("/account").get_data(as_text=True)


def test_a_lock_by_an_administrator_records_that_the_sp_was_not_told(web, saml_sp, people, identities, db, runner):
    """No browser carries a LogoutRequest from the command line: that is recorded."""
    made = identities.make(people["citizen"])
    sp = saml_sp()
    signed_in_to(web, sp, made)
    assert runner.invoke(args=["idp", "user", "lock", made.username]).exit_code == 0
    [record] = audited(db, "saml.logout_unreachable")
    assert record["entity_id"] == sp.settings["sp"]["entityId"] and "browser" in record["reason"]
