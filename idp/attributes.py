"""The one attribute map: each internal attribute of an identity, its OpenID Connect claim
(and the scope that releases it), and its SAML attribute name. No endpoint invents names.

Names are given in Arabic first; OIDC carries both languages as language-tagged claims
(OIDC Core 1.0 §5.2, e.g. `name#ar`, `name#en`), the untagged claim holding the Arabic.
"""
from __future__ import annotations

import dataclasses

from idp.identity.birthdate import format_hijri
from idp.models import Identity

SAML_PREFIX = "urn:nsso:attribute:"


@dataclasses.dataclass(frozen=True)
class Attribute:
    internal: str
    claim: str | None  # OIDC claim name
    scope: str | None  # OIDC scope that releases it
    saml: str | None  # SAML attribute short name (URI = SAML_PREFIX + short name)
    restricted: bool = False  # only to relying parties allowed the national ID


ATTRIBUTES = (
    Attribute("national_id", "national_id", "national_id", "nationalId", restricted=True),
    Attribute("id_type", "id_type", "national_id", "idType", restricted=True),
    Attribute("nationality", "nationality", "national_id", "nationality", restricted=True),
    Attribute("name_ar", "name#ar", "profile", "nameAr"),
    Attribute("name_en", "name#en", "profile", "nameEn"),
    Attribute("name", "name", "profile", None),
    Attribute("given_name_ar", "given_name#ar", "profile", None),
    Attribute("given_name_en", "given_name#en", "profile", "givenName"),
    Attribute("given_name", "given_name", "profile", None),
    Attribute("family_name_ar", "family_name#ar", "profile", None),
    Attribute("family_name_en", "family_name#en", "profile", "surname"),
    Attribute("family_name", "family_name", "profile", None),
    Attribute("birth_date", "birthdate", "profile", "birthDate"),
    Attribute("birth_date_hijri", "birthdate_hijri", "profile", "birthDateHijri"),
    Attribute("gender", "gender", "profile", "gender"),
    Attribute("email", "email", "email", "email"),
    Attribute("email_verified", "email_verified", "email", None),
    Attribute("mobile", "phone_number", "phone", "mobile"),
    Attribute("mobile_verified", "phone_number_verified", "phone", None),
)

SCOPES = ("openid", "profile", "email", "phone", "national_id")
CLAIMS_BY_SCOPE = {scope: [a.claim for a in ATTRIBUTES if a.scope == scope and a.claim] for scope in SCOPES}


def _first_last(full_name: str) -> tuple[str, str]:
    parts = full_name.split()
    return (parts[0], parts[-1]) if parts else ("", "")


def values(identity: Identity) -> dict:
    """Every internal attribute of an identity: the civil registry's facts it was verified against
    (kept on the identity, whatever registry is configured now) and the account's own."""
    given_ar, family_ar = _first_last(identity.name_ar)
    given_en, family_en = _first_last(identity.name_en)
    return {
        "national_id": identity.national_id, "id_type": identity.id_type, "nationality": identity.nationality,
        "name_ar": identity.name_ar, "name_en": identity.name_en, "name": identity.name_ar,
        "given_name_ar": given_ar, "given_name_en": given_en, "given_name": given_ar,
        "family_name_ar": family_ar, "family_name_en": family_en, "family_name": family_ar,
        "birth_date": identity.birth_date.isoformat(), "birth_date_hijri": format_hijri(identity.birth_date),
        "gender": "male" if identity.gender == "M" else "female",
        "email": identity.email, "email_verified": bool(identity.email_verified),
        # The mobile number is as the citizen typed it: no SMS proves it yet.
        "mobile": identity.mobile, "mobile_verified": False,
    }


def oidc_claims(identity: Identity, scopes, allow_national_id: bool) -> dict:
    """The claims the granted scopes release (OIDC Core 1.0 §5.4)."""
    granted = set(scopes)
    data = values(identity)
    return {a.claim: data[a.internal] for a in ATTRIBUTES
            if a.claim and a.scope in granted and data[a.internal] is not None
            and (allow_national_id or not a.restricted)}


def saml_attributes(identity: Identity, allow_national_id: bool) -> dict[str, list[str]]:
    """SAML attribute URI → values, as released to a service provider."""
    data = values(identity)
    return {SAML_PREFIX + a.saml: [str(data[a.internal])] for a in ATTRIBUTES
            if a.saml and data[a.internal] is not None and (allow_national_id or not a.restricted)}


def saml_release_names(allow_national_id: bool) -> list[str]:
    """The SAML attribute short names a service provider may receive (what its release notice
    lists and the stored release covers), whatever an identity's values are."""
    return [a.saml for a in ATTRIBUTES if a.saml and (allow_national_id or not a.restricted)]
