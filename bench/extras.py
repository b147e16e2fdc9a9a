"""The parts of `make bench` beyond the side-by-side table (issue 10 item 3), ours only:

- password sign-ins per second per core, from the cold flow's CPU, against the argon2id bound
  (one core can do no more sign-ins per second than 1000 / one verification's milliseconds);
- SAML SSO responses per second: a signed-in browser, a signed AuthnRequest (HTTP-Redirect) from
  a python3-saml service provider, an encrypted and signed assertion back; the server's CPU
  includes the xmlsec1 children it waited for (/proc cutime + cstime);
- 1 and 2 gunicorn workers, sync and gthread: four clients at once, code flows, throughput and CPU
  per operation
  (2 workers need Redis: the in-process store is one worker's own).
"""
from __future__ import annotations

import threading
import time

from bench.driver import Target, Unexpected

SAML_SSO_COUNT = 20
WORKERS_FLOWS_PER_CLIENT = 20


def password_sign_ins(cold_flow_cpu_ms: float, argon2_ms: float) -> dict:
    """Sign-ins per second one core sustains (the whole cold flow) and the argon2id bound."""
    return {"per_core_per_s": 1000 / cold_flow_cpu_ms if cold_flow_cpu_ms else None,
            "argon2id_bound_per_core_per_s": 1000 / argon2_ms if argon2_ms else None,
            "cold_flow_cpu_ms": cold_flow_cpu_ms, "argon2id_verify_ms": argon2_ms}


def prepare_saml(app_settings: dict) -> object:
    """A python3-saml service provider (the tests' one) registered with our IdP: signed requests,
    encrypted assertions; every bench identity's release to it already given (as the OIDC clients'
    consent is), so no first-time release notice stands between the signed-in browser and the
    assertion. Returns it (it makes the AuthnRequests)."""
    from sqlalchemy import select

    from idp import create_app
    from idp.attributes import saml_release_names
    from idp.models import Identity
    from idp.oidc import consent
    from idp.saml import sps
    from tests.saml.service_provider import ServiceProvider

    app = create_app(dict(app_settings), check_secrets=False)
    services = app.extensions["idp"]
    if services.keyring.saml_signing() is None:
        services.keyring.generate_saml("bench-idp")
    idp_metadata = app.test_client().get("/saml/metadata").get_data(as_text=True)
    sp = ServiceProvider(idp_metadata, sign_requests=True, want_encryption=True,
                         entity_id="http://127.0.0.1:5002/saml/metadata")
    with services.db.session() as session:
        rp = sps.register_saml(session, name="Bench SP", metadata_xml=sp.metadata(), require_signed_requests=True)
        for identity_id in session.scalars(select(Identity.id)):
            consent.grant(session, identity_id, rp.id, saml_release_names(bool(rp.allow_national_id)))
        session.commit()
    services.db.dispose()
    return sp


def saml_sso(target: Target, sp) -> None:
    """One SSO: the AuthnRequest in the signed-in browser, the auto-posting form with the Response."""
    from tests.saml.service_provider import post_form

    url = sp.login_url()
    response = target.browser.get(url, allow_redirects=False)
    if response.status_code != 200 or "SAMLResponse" not in response.text:
        raise Unexpected(f"{target.name}: SAML SSO answered {response.status_code}")
    form = post_form(response.text)
    if not form.get("SAMLResponse"):
        raise Unexpected(f"{target.name}: no SAMLResponse")


def measure_saml(server, target: Target, sp, count: int = SAML_SSO_COUNT) -> dict:
    from tests.saml.service_provider import post_form

    # once, checked as the SP would (signature, decryption, audience): the measured ones are the same
    response = target.browser.get(sp.login_url(),
                                  allow_redirects=False)
    auth = sp.accept(post_form(response.text)["SAMLResponse"], sp.last_request_id)
    if auth.get_errors() or not auth.is_authenticated():
        raise Unexpected(f"SAML response refused by the SP: {auth.get_errors()} {auth.get_last_error_reason()}")
    latencies = []
    cpu_before, wall_before = server.cpu(), time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        saml_sso(target, sp)
        latencies.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - wall_before, server.cpu() - cpu_before
    latencies.sort()
    return {"operations": count, "cpu_ms_per_op": 1000 * cpu / count,
            "responses_per_s_per_core": count / cpu if cpu else None, "ops_per_s": count / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[-1],
            "cpu_includes": "gunicorn worker + its xmlsec1 children"}


def measure_concurrent(server, targets: list[Target], flows: int = WORKERS_FLOWS_PER_CLIENT) -> dict:
    """`len(targets)` clients at once, each `flows` signed-in code flows (RS256)."""
    errors: list[BaseException] = []

    def client(target: Target) -> None:
        try:
            for _ in range(flows):
                target.code_flow("RS256")
        except BaseException as e:  # reported below, after the other clients finish
            errors.append(e)

    threads = [threading.Thread(target=client, args=(t,)) for t in targets]
    cpu_before, wall_before = server.cpu(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall_before, server.cpu() - cpu_before
    if errors:
        raise errors[0]
    count = flows * len(targets)
    return {"clients": len(targets), "operations": count, "ops_per_s": count / wall,
            "cpu_ms_per_op": 1000 * cpu / count, "rss_mib": server.rss()}
