"""`make demo`'s ports (issue 12, Deliver 7): configurable, and a busy port is one line and a
non-zero exit before anything is set up or printed."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from relying_parties import demo
from tests.live import free_port


@pytest.mark.parametrize("text, ports", [("5000,5001,5002", (5000, 5001, 5002)), ("6100,6101,6102", (6100, 6101, 6102))])
def test_ports_are_parsed(text, ports):
    assert demo.parse_ports(text) == ports


@pytest.mark.parametrize("text", ["5000,5001", "5000,5000,5001", "a,b,c", "80,81,82", "5000,5001,70000", ""])
def test_bad_ports_are_refused(text):
    with pytest.raises(demo.DemoError):
        demo.parse_ports(text)


def run_demo(*args, **env):
    return subprocess.run([sys.executable, "-m", "relying_parties.demo", *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **env), cwd=demo.ROOT)


def test_a_busy_port_is_one_line_and_a_non_zero_exit_before_anything_else():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for result in (run_demo("--ports", f"{free_port()},{port},{free_port()}"),
                       run_demo(IDP_DEMO_PORTS=f"{port},{free_port()},{free_port()}")):
            assert result.returncode == 2
            assert result.stdout == ""  # no credentials, nothing set up
            assert result.stderr.strip() == (f"make demo: port {port} is already in use: stop what uses it, "
                                             "or choose other ports with IDP_DEMO_PORTS=5100,5101,5102 make demo")


def test_bad_ports_setting_is_one_line():
    result = run_demo(IDP_DEMO_PORTS="5000;5001")
    assert result.returncode == 2 and result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


def test_every_app_is_told_the_chosen_ports(monkeypatch):
    monkeypatch.setattr(demo, "IDP", demo.IDP)
    monkeypatch.setattr(demo, "MASAR", demo.MASAR)
    monkeypatch.setattr(demo, "SAML_SP", demo.SAML_SP)
    monkeypatch.setattr(demo, "SAML_SP_ENTITY_ID", demo.SAML_SP_ENTITY_ID)
    demo.use_ports((6100, 6101, 6102))
    env = demo.demo_env()
    assert env["IDP_ISSUER"] == env["MASAR_IDP_ISSUER"] == "http://127.0.0.1:6100"
    assert env["MASAR_BASE_URL"] == "http://127.0.0.1:6101" and env["SAMLSP_BASE_URL"] == "http://127.0.0.1:6102"
    assert env["SAMLSP_IDP_METADATA_URL"] == "http://127.0.0.1:6100/saml/metadata"
    assert demo.SAML_SP_ENTITY_ID == "http://127.0.0.1:6102/saml/metadata"
    assert "6100" in demo.describe({"demo_identity": {"username": "u", "password": "p", "totp_secret": "S"},
                                    "people_to_register": []})
