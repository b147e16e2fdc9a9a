"""Masar's "Sign in with the national app" (CIBA poll mode) against the real IdP over real HTTP,
without JavaScript: a `requests.Session` plays the employee's browser and presses "Continue"; the
citizen approves through the approval service's real path (tests/phone.py)."""
from __future__ import annotations

import re
import secrets
import time
from types import SimpleNamespace

import pytest
import requests

from relying_parties.masar.app import create_app
from tests.live import free_port, serve
from tests.phone import Phone

ISSUER = f"http://127.0.0.1:{free_port()}"
MASAR = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def live_idp(app, signing_keys):
    stop = serve(app, ISSUER)
    yield ISSUER
    stop()


@pytest.fixture
def masar(live_idp, rps, tmp_path):
    client = rps.register(name="Masar", redirect_uris=[MASAR + "/auth/callback"], ciba=True)
    portal = create_app({"MASAR_IDP_ISSUER": ISSUER, "MASAR_CLIENT_ID": client.client_id,
                         "MASAR_CLIENT_SECRET": client.secret, "MASAR_BASE_URL": MASAR,
                         "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"),
                         "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    stop = serve(portal, MASAR)
    yield SimpleNamespace(app=portal, url=MASAR, client=client)
    stop()


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"]).identity


@pytest.fixture
def phone(db, citizen):
    return Phone(db, citizen)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def send_to_app(browser, national_id):
    form = browser.get(MASAR + "/login/app", timeout=10)
    return browser.post(MASAR + "/login/app", data={"csrf_token": csrf(form.text), "national_id": national_id},
                        timeout=10)


def press_continue(browser, page):
    return browser.post(MASAR + "/login/app/check", data={"csrf_token": csrf(page.text)}, timeout=10)


def shown_number(page) -> str:
    return re.search(r'id="binding-number"[^>]*>(\d\d)<', page.text).group(1)


def test_home_offers_the_app(masar):
    home = requests.get(MASAR + "/", timeout=10)
    assert 'href="/login/app"' in home.text and "الدخول بتطبيق" in home.text


def test_sign_in_with_the_app_without_javascript(masar, citizen, phone):
    browser = requests.Session()
    waiting = send_to_app(browser, "  " + citizen.national_id)
    assert waiting.url == MASAR + "/login/app/wait" and waiting.status_code == 200
    number = shown_number(waiting)
    assert phone.pending().binding_number == number  # the number Masar shows is the one the app expects
    assert "script-src 'self'" in waiting.headers["Content-Security-Policy"]
    too_soon = press_continue(browser, waiting)  # before the interval: Masar does not ask the IdP yet
    assert too_soon.url.endswith("/login/app/wait?not_yet=1") and number in too_soon.text
    phone.pick()
    time.sleep(5)  # the IdP's interval: a poll sooner would be answered slow_down
    profile = press_continue(browser, too_soon)
    assert profile.url == MASAR + "/profile", profile.text[:300]
    assert "أكمل ملفك" in profile.text  # signed in: the first-visit profile form


def test_the_script_gets_json(masar, citizen, phone):
    browser = requests.Session()
    waiting = send_to_app(browser, citizen.national_id)
    answer = browser.post(MASAR + "/login/app/check", data={"csrf_token": csrf(waiting.text)},
                          headers={"Accept": "application/json"}, timeout=10).json()
    assert answer == {"state": "pending", "interval": 5}
    phone.decline()
    time.sleep(5)
    answer = browser.post(MASAR + "/login/app/check", data={"csrf_token": csrf(waiting.text)},
                          headers={"Accept": "application/json"}, timeout=10).json()
    assert answer["state"] == "done" and answer["next"].endswith("/login/app/ended/declined")
    declined = browser.get(MASAR + answer["next"], timeout=10)
    assert declined.status_code == 200


@pytest.mark.parametrize("typed", ["123", "abcdefghij", "3000000000"])
def test_a_malformed_national_id_is_refused_by_masar(masar, typed):
    browser = requests.Session()
    page = send_to_app(browser, typed)
    assert page.status_code == 400 and "field-errors" in page.text


def test_an_unknown_national_id_waits_like_any_other(masar):
    browser = requests.Session()
    page = send_to_app(browser, "1000000008")
    assert page.url == MASAR + "/login/app/wait" and re.search(r"\d\d", shown_number(page))
