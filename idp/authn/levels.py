"""Levels of assurance (LoA), declared once: their URNs, their order, the sign-in methods that
reach each, and how each protocol names them.

- OIDC: the LoA URN is the `acr` value (OIDC Core 1.0 §2); methods are `amr` values (RFC 8176).
- SAML: AuthnContextClassRef values (SAML Authn Context 2.0) map onto the same levels; requests
  may name standard classes (REFEDS MFA, TimeSyncToken …) that we satisfy.
"""
from __future__ import annotations

from collections.abc import Iterable

LOA1 = "urn:idp:loa:1"  # something you know: the password (NIST SP 800-63B AAL1)
LOA2 = "urn:idp:loa:2"  # password + a second factor (NIST SP 800-63B AAL2)
# A passkey with user verification: phishing-resistant multi-factor (NIST SP 800-63B §5.2.5, AAL2
# with verifier-impersonation resistance; AAL3 asks for a non-exportable key we cannot attest).
LOA3 = "urn:idp:loa:3"
ORDER = (LOA1, LOA2, LOA3)  # weakest first

# amr values (RFC 8176 §2, and "recovery" for a single-use recovery code) that are a second factor.
SECOND_FACTOR_AMR = frozenset({"otp", "recovery"})
# A passkey's key (RFC 8176 §2: "hwk" device-bound, "swk" one that may be synced off the device);
# with "user" (the authenticator verified its user) it is a phishing-resistant multi-factor sign-in.
PASSKEY_AMR = frozenset({"hwk", "swk"})

# SAML: the class an assertion states for each level, and the classes a request may ask for.
SAML_PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105 (a SAML class URN, not a password)
SAML_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"  # noqa: S105 (a SAML class URN, not a password)
SAML_REFEDS_MFA = "https://refeds.org/profile/mfa"
SAML_TIME_SYNC_TOKEN = "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken"  # noqa: S105 (a SAML class URN, not a password)
SAML_MOBILE_TWO_FACTOR = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
SAML_CLASS_FOR = {LOA1: SAML_PASSWORD_PROTECTED, LOA2: LOA2, LOA3: LOA3}
# In the order we prefer to state them: the first of each level is what an assertion names by default.
SAML_LEVEL_OF = {
    SAML_PASSWORD_PROTECTED: LOA1, SAML_PASSWORD: LOA1, LOA1: LOA1,
    LOA2: LOA2, SAML_REFEDS_MFA: LOA2, SAML_TIME_SYNC_TOKEN: LOA2, SAML_MOBILE_TWO_FACTOR: LOA2,
    LOA3: LOA3,
}


def level_for(amr: Iterable[str]) -> str:
    """The level a sign-in with these methods reached."""
    methods = set(amr or ())
    if PASSKEY_AMR & methods and "user" in methods:
        return LOA3
    return LOA2 if SECOND_FACTOR_AMR & methods else LOA1


def rank(level: str | None) -> int:
    """Position in ORDER; -1 for no or an unknown level (satisfies nothing)."""
    return ORDER.index(level) if level in ORDER else -1


def satisfies(achieved: str | None, required: str) -> bool:
    return rank(achieved) >= rank(required) >= 0


def highest() -> str:
    return ORDER[-1]
