"""Structured logs: JSON lines with the request id; secrets redacted from URLs."""
import json
import logging

import pytest

from idp import logs


def record(message="hello", **extra):
    entry = logging.LogRecord("idp.test", logging.INFO, __file__, 1, message, None, None)
    entry.__dict__.update(extra)
    return entry


def test_a_json_line_carries_time_level_instance_and_the_request_id():
    tokens = logs.bind_request_id("lb-1234")
    try:
        line = json.loads(logs.JsonFormatter(instance="idp-a").format(record(status=200, route="/login")))
    finally:
        logs.unbind_request_id(tokens)
    assert line["level"] == "info" and line["message"] == "hello" and line["instance"] == "idp-a"
    assert line["request_id"] == "lb-1234" and line["status"] == 200 and line["route"] == "/login"
    assert line["time"].endswith("+00:00")


def test_outside_a_request_there_is_no_request_id():
    assert "request_id" not in json.loads(logs.JsonFormatter(instance="x").format(record()))


def test_facts_noted_during_a_request_stay_with_it():
    tokens = logs.bind_request_id("r1")
    logs.note(client_id="masar", sp=None)
    assert logs.request_facts() == {"client_id": "masar"}
    logs.unbind_request_id(tokens)
    assert logs.request_facts() == {}
    logs.note(client_id="ignored")  # outside a request: nowhere to keep it
    assert logs.request_facts() == {}


@pytest.mark.parametrize("url,kept,gone", [
    ("https://rp.example/cb?code=SECRET1&state=SECRET2", "https://rp.example/cb?", ["SECRET1", "SECRET2"]),
    ("/oidc/authorize?client_id=masar&nonce=N0NCE&login_hint=1012345678", "client_id=masar", ["N0NCE", "1012345678"]),
    ("/saml/sso/redirect?SAMLRequest=abc&RelayState=xyz", "SAMLRequest=REDACTED", ["abc", "xyz"]),
    ("/login", "/login", []),
])
def test_redact(url, kept, gone):
    redacted = logs.redact(url)
    assert kept in redacted
    for secret in gone:
        assert secret not in redacted


@pytest.mark.parametrize("given,accepted", [("lb-1.2:3@x/y+z=", True), ("a" * 64, True), ("a" * 65, False),
                                            ("", False), (None, False), ("a b", False), ("a\nb", False)])
def test_request_id_validation(given, accepted):
    assert (logs.accept_request_id(given) == given) is accepted


def test_secret_parameters_quoted_in_a_message_are_redacted():
    message = "redirect to https://rp.example/cb?code=SECRET1&state=SECRET2 done"
    line = json.loads(logs.JsonFormatter(instance="x").format(record(message)))
    assert "SECRET1" not in line["message"] and "SECRET2" not in line["message"]
    assert line["message"].removeprefix("redirect to ") == "https://rp.example/cb?code=REDACTED&state=REDACTED done"
