"""idp.events: the identity layer announces, the protocols subscribe (issue 13: no layer reaches up)."""
from __future__ import annotations

import ast
import pathlib

import pytest

from idp import events, revocation

IDP = pathlib.Path(__file__).resolve().parent.parent / "idp"
HIGHER = ("idp.revocation", "idp.oidc", "idp.saml", "idp.web", "idp.cli", "flask")


def imported_modules(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted((IDP / "identity").glob("*.py")), ids=lambda p: p.name)
def test_the_identity_layer_imports_no_protocol_nor_the_web(path):
    reaching_up = {name for name in imported_modules(path) if name.startswith(HIGHER)}
    assert reaching_up == set()


def test_a_signal_runs_each_receiver_once_in_order_with_the_callers_session():
    signal, heard = events.Signal("test"), []
    first = signal.connect(lambda db, identity, **detail: heard.append(("first", db, identity, detail)))
    signal.connect(first)  # a second app in the same process subscribes the same function again
    signal.connect(lambda db, identity, **detail: heard.append(("second", db, identity, detail)))
    signal.send("db", "identity", why="test")
    assert heard == [("first", "db", "identity", {"why": "test"}), ("second", "db", "identity", {"why": "test"})]


def test_a_failing_receiver_reaches_the_announcer():
    signal = events.Signal("test")

    def refuse(db, identity, **detail):
        raise RuntimeError("refused")

    signal.connect(refuse)
    with pytest.raises(RuntimeError, match="refused"):
        signal.send(None, None)


def test_create_app_subscribes_the_protocols_to_both_announcements(app):
    for signal in (events.credentials_changed, events.identity_locked):
        assert revocation.end_tokens_and_sign_ins in signal._receivers
