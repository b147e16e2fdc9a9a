"""Friendly, translated names for what the IdP releases: its attribute URIs, a few of their
values, and its authentication context classes (SAML Authn Context §3.4)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

PREFIX = "urn:nsso:attribute:"

# In the order the page shows them.
LABELS = {
    PREFIX + "nameAr": _l("Name in Arabic"),
    PREFIX + "nameEn": _l("Name in English"),
    PREFIX + "givenName": _l("Given name"),
    PREFIX + "surname": _l("Family name"),
    PREFIX + "birthDate": _l("Date of birth (Gregorian)"),
    PREFIX + "birthDateHijri": _l("Date of birth (Hijri)"),
    PREFIX + "gender": _l("Gender"),
    PREFIX + "email": _l("Email"),
    PREFIX + "mobile": _l("Mobile number"),
    PREFIX + "idType": _l("ID type"),
    PREFIX + "nationality": _l("Nationality"),
    PREFIX + "nationalId": _l("National ID"),
}
VALUES = {
    (PREFIX + "gender", "male"): _l("Male"),
    (PREFIX + "gender", "female"): _l("Female"),
    (PREFIX + "idType", "citizen"): _l("Citizen"),
    (PREFIX + "idType", "resident"): _l("Resident"),
}
# Values in Arabic script, marked lang="ar"; the others are shown left to right.
LANGUAGE = {PREFIX + "nameAr": "ar"}
CONTEXTS = {
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport": _l("Password (level 1)"),
    "urn:idp:loa:2": _l("Password and a second factor (level 2)"),
}


def rows(attributes: dict[str, list[str]]) -> list[dict]:
    """One row per attribute: the known ones in LABELS order, then any others by URI."""
    order = list(LABELS)
    known = sorted(attributes, key=lambda uri: (order.index(uri) if uri in LABELS else len(order), uri))
    return [{"uri": uri, "label": LABELS.get(uri), "lang": LANGUAGE.get(uri),
             "values": [VALUES.get((uri, value), value) for value in attributes[uri]]} for uri in known]


def context_label(class_ref: str):
    return CONTEXTS.get(class_ref)
