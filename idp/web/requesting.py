"""Which service the citizen is signing in to: named on the sign-in page (issue 12), from the
pending request its `next` link continues (OIDC or SAML), never from anything the page is told."""
from __future__ import annotations

import re

from idp.errors import NotFound
from idp.oidc import clients
from idp.web import gate
from idp.web.context import db_session

_CONTINUE = re.compile(r"/(oidc/authorize|saml/sso)/continue/([A-Za-z0-9_-]{1,64})")
_KIND = {"oidc/authorize": "oidc_pending", "saml/sso": "saml_pending"}


def service_name(next_url: str | None) -> str | None:
    """The registered name of the relying party whose pending request `next_url` continues."""
    match = _CONTINUE.fullmatch((next_url or "").split("?", 1)[0])
    if match is None:
        return None
    record = gate.recall(_KIND[match.group(1)], match.group(2))
    if not isinstance(record, dict):
        return None
    if match.group(1) == "oidc/authorize":
        rp = clients.find_oidc(db_session(), (record.get("params") or {}).get("client_id"))
    else:
        try:
            rp = clients.get(db_session(), str(record.get("sp") or ""))
        except NotFound:
            rp = None
    return rp.name if rp is not None else None
