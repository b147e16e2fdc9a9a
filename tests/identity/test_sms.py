"""SMS senders: the demo's file outbox and the HTTP gateway adapter, against a real HTTP server
on loopback (tests/sms_gateway.py)."""
from __future__ import annotations

import json
import logging
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idp.identity.sms import FileOutbox, HttpGateway, mask_mobile, sender_from_settings
from tests.sms_gateway import Gateway

MOBILE = "+966512345123"


@pytest.fixture
def gateway():
    with Gateway() as running:
        yield running


def test_the_gateway_gets_json_with_the_bearer_token(gateway):
    assert HttpGateway(gateway.url, gateway.token).send(MOBILE, "code 123456") is True
    request = gateway.received[-1]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["Authorization"] == f"Bearer {gateway.token}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["body"] == {"to": MOBILE, "text": "code 123456"}


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_a_refusal_is_false_and_logged_without_secrets(gateway, caplog, status):
    gateway.status = status
    with caplog.at_level(logging.INFO, logger="idp.identity.sms"):
        assert HttpGateway(gateway.url, gateway.token).send(MOBILE, "code 654321") is False
    assert str(status) in caplog.text
    for secret in (gateway.token, "654321", MOBILE):
        assert secret not in caplog.text


def test_a_wrong_token_is_refused(gateway):
    assert HttpGateway(gateway.url, "not-the-token").send(MOBILE, "x") is False


def test_a_stalled_gateway_times_out(gateway):
    gateway.delay = 5
    started = time.monotonic()
    assert HttpGateway(gateway.url, gateway.token, timeout_seconds=1).send(MOBILE, "x") is False
    assert time.monotonic() - started < 4.5  # the timeout, not the gateway, ended it


def test_nothing_listening_is_false():
    assert HttpGateway("http://127.0.0.1:9/v1/messages", "t", timeout_seconds=1).send(MOBILE, "x") is False


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else():
    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/send"
        assert HttpGateway(url, "t").send(MOBILE, "x") is False
        assert hits == ["/send"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_file_outbox_writes_private_json(tmp_path):
    assert FileOutbox(tmp_path / "sms-outbox").send(MOBILE, "رمز 123456") is True
    [path] = (tmp_path / "sms-outbox").glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == {"to": MOBILE, "text": "رمز 123456"}


def test_an_unwritable_outbox_is_false(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert FileOutbox(blocker / "sms-outbox").send(MOBILE, "x") is False


def test_settings_choose_the_sender(tmp_path):
    from idp.settings import load_settings

    base = {"instance_path": str(tmp_path), "secret_key": "s" * 40}
    assert isinstance(sender_from_settings(load_settings(base, environ={})), FileOutbox)
    gateway = load_settings({**base, "sms_gateway_url": "https://sms.example.gov.sa/send"},
                            environ={"IDP_SMS_GATEWAY_TOKEN": "t0k"})
    sender = sender_from_settings(gateway)
    assert isinstance(sender, HttpGateway) and sender.token == "t0k"


@pytest.mark.parametrize("url", ["ftp://sms.example/send", "http://sms.example.gov.sa/send", "not a url"])
def test_a_bad_gateway_url_stops_start_up(tmp_path, url):
    from idp.errors import ConfigError
    from idp.settings import load_settings

    with pytest.raises(ConfigError, match="IDP_SMS_GATEWAY_URL"):
        load_settings({"instance_path": str(tmp_path), "sms_gateway_url": url}, environ={})


@pytest.mark.parametrize("mobile, masked", [("+966512345123", "+9665•••••123"), ("", "•••")])
def test_mask(mobile, masked):
    assert mask_mobile(mobile) == masked
