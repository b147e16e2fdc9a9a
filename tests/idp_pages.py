"""A citizen's way through the IdP's pages for tests that drive it over real HTTP with `requests`:
the password, the second factor (every identity has one), the OIDC consent or the SAML release
notice the first time, until the browser leaves the page kinds it knows."""
from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

from tests import second_factor


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def step(browser: requests.Session, page: requests.Response, made, decision: str = "allow") -> requests.Response | None:
    """Answer the IdP page `page` is on; None when it is none of these."""
    html = page.text
    if 'name="password"' in html:
        data = {"username": made.username, "password": made.password}
    elif 'name="otp"' in html:
        data = {"otp": second_factor.code_for(made)}
    else:
        action = re.search(r'action="(/(?:oidc/consent|saml/sso/release)/[^"]+)"', html)
        if action is None:
            return None
        return browser.post(urljoin(page.url, action.group(1)), data={"csrf_token": csrf(html), "decision": decision},
                            timeout=10)
    return browser.post(page.url, data={"csrf_token": csrf(html), **data}, timeout=10)


def through(browser: requests.Session, page: requests.Response, made, issuer: str,
            decision: str = "allow") -> requests.Response:
    """Every IdP page in turn (at most a few), returning the first page that is not one of them."""
    for _ in range(5):
        if not page.url.startswith(issuer):
            return page
        answered = step(browser, page, made, decision)
        if answered is None:
            return page
        page = answered
    raise AssertionError(f"still at the IdP: {page.url}")
