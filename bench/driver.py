"""The one client both providers get: a confidential relying party (client_secret_basic, PKCE S256)
and a browser that keeps cookies, over HTTP on 127.0.0.1 (connections kept alive where the server
allows it). Each operation returns when the provider has answered it completely, and fails loudly
when an answer is not the expected one."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import requests

if TYPE_CHECKING:
    from bench.totp_pool import SignIn

REDIRECT_URI = "http://127.0.0.1/callback"
SCOPE = "openid profile email"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FORM_ACTION = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]*)"', re.I)


class Unexpected(RuntimeError):
    """A provider answered something other than the protocol's success answer."""


@dataclass
class Target:
    """One provider as the relying party sees it."""
    name: str
    base_url: str
    username: str
    password: str
    clients: dict  # alg → {"client_id", "client_secret"}
    endpoints: dict = field(default_factory=dict)
    browser: requests.Session = field(default_factory=requests.Session)  # the signed-in browser
    backend: requests.Session = field(default_factory=requests.Session)  # the relying party's server
    tokens: dict = field(default_factory=dict)
    # A code for the second-factor form, when the provider asks one after the password (ours does:
    # every identity has a second factor); None for a provider that never asks.
    second_factor: Callable[[], str] | None = None
    # Or, for a provider that takes a TOTP code once per time step per identity: each sign-in's
    # identity and code from a pool (bench.totp_pool.TotpPool.take), instead of username/password.
    sign_ins: Callable[[], SignIn] | None = None
    _code: str | None = field(default=None, repr=False)  # the code reserved with the last password
    # HTTP requests answered so far, through every session of this target (bench/floor.py subtracts
    # a floor per request)
    requests_sent: int = 0

    def __post_init__(self) -> None:
        self._count_requests(self.browser)
        self._count_requests(self.backend)

    def _count_requests(self, session: requests.Session) -> None:
        session.hooks["response"].append(self._counted)

    def _counted(self, response: requests.Response, *_args, **_kwargs) -> None:
        self.requests_sent += 1

    def discover(self) -> None:
        self.endpoints = expect_json(self.backend.get(self.base_url + "/.well-known/openid-configuration"))

    # --- the operations ---------------------------------------------------------------------------

    def discovery(self) -> None:
        expect_json(self.backend.get(self.base_url + "/.well-known/openid-configuration"))

    def jwks(self) -> None:
        keys = expect_json(self.backend.get(self.endpoints["jwks_uri"]))["keys"]
        if not keys:
            raise Unexpected(f"{self.name}: empty JWKS")

    def code_flow(self, alg: str) -> None:
        """Authorization request in the signed-in browser, then the code exchanged for tokens."""
        code, verifier = self.authorize(self.browser, alg)
        self.tokens = self.exchange(alg, code, verifier)

    def refresh(self) -> None:
        alg = self.tokens["alg"]
        answer = expect_json(self.backend.post(self.endpoints["token_endpoint"], auth=self._basic(alg), data={
            "grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]}))
        self.tokens.update(answer)  # rotated: the next refresh uses the new one

    def userinfo(self) -> None:
        claims = expect_json(self.backend.get(self.endpoints["userinfo_endpoint"], headers={
            "Authorization": f"Bearer {self.tokens['access_token']}"}))
        if not claims.get("sub"):
            raise Unexpected(f"{self.name}: userinfo without sub")

    def cold_flow(self, alg: str = "RS256") -> None:
        """A new browser: authorization request, the sign-in form, the password, the code, the tokens."""
        browser = requests.Session()
        self._count_requests(browser)
        code, verifier = self.authorize(browser, alg)
        self.exchange(alg, code, verifier)
        browser.close()

    # --- the steps ------------------------------------------------------------------------------

    def authorize(self, browser: requests.Session, alg: str) -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        params = {"client_id": self.clients[alg]["client_id"], "redirect_uri": REDIRECT_URI,
                  "response_type": "code", "scope": SCOPE, "state": state, "nonce": secrets.token_urlsafe(12),
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        response = browser.get(self.endpoints["authorization_endpoint"], params=params, allow_redirects=False)
        for _step in range(8):
            location = response.headers.get("Location", "")
            if response.status_code in (302, 303) and location.startswith(REDIRECT_URI):
                answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                if answer.get("state") != state or "code" not in answer:
                    raise Unexpected(f"{self.name}: authorization answered {answer}")
                return answer["code"], verifier
            if response.status_code in (302, 303):
                response = browser.get(urljoin(response.url, location), allow_redirects=False)
            elif response.status_code == 200 and "<form" in response.text:
                response = self.sign_in(browser, response)
            else:
                raise Unexpected(f"{self.name}: authorization step {response.status_code} {response.url}")
        raise Unexpected(f"{self.name}: too many redirects")

    def sign_in(self, browser: requests.Session, page: requests.Response) -> requests.Response:
        """Fill the provider's sign-in form (its CSRF token included, when it has one): the password,
        or the second factor's code when that is the form shown."""
        action = FORM_ACTION.search(page.text)
        second_step = 'name="otp"' in page.text and (self.second_factor is not None or self._code is not None)
        if action is None and not second_step:
            raise Unexpected(f"{self.name}: no sign-in form at {page.url}")
        if second_step:
            code = self._code if self._code is not None else self.second_factor() if self.second_factor else ""
            data = {"otp": code}
            self._code = None  # spent: a second code page is answered with a new one, or fails
        elif self.sign_ins is not None:
            taken = self.sign_ins()
            data, self._code = {"username": taken.username, "password": taken.password}, taken.code
        else:
            data = {"username": self.username, "password": self.password}
        csrf = CSRF.search(page.text)
        if csrf:
            data["csrf_token"] = html.unescape(csrf.group(1))
        url = urljoin(page.url, html.unescape(action.group(1)) or page.url) if action else page.url
        return browser.post(url, data=data, allow_redirects=False)

    def exchange(self, alg: str, code: str, verifier: str) -> dict:
        tokens = expect_json(self.backend.post(self.endpoints["token_endpoint"], auth=self._basic(alg), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}))
        if not all(tokens.get(k) for k in ("id_token", "access_token", "refresh_token")):
            raise Unexpected(f"{self.name}: token response lacks a token: {sorted(tokens)}")
        header = base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "==")
        if f'"{alg}"' not in header.decode():
            raise Unexpected(f"{self.name}: ID token not signed with {alg}: {header!r}")
        return {**tokens, "alg": alg}

    def _basic(self, alg: str) -> tuple[str, str]:
        client = self.clients[alg]  # RFC 6749 §2.3.1: form-urlencoded before Basic
        return quote(client["client_id"], safe=""), quote(client["client_secret"], safe="")

    def close(self) -> None:
        self.browser.close()
        self.backend.close()


def expect_json(response: requests.Response) -> dict:
    if response.status_code != 200:
        raise Unexpected(f"{response.request.method} {response.url}: {response.status_code} "
                         f"{response.text[:300]}")
    return response.json()
