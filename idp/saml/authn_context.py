"""RequestedAuthnContext (SAML Core §3.3.2.2.1) over our assurance levels.

We know a small ordered set of authentication context classes (SAML Authn Context §3.4, REFEDS
MFA): level 1 is a password over TLS, level 2 adds a second factor (TOTP), level 3
(`urn:idp:loa:3`) is a passkey sign-in, given only to requests that name it. The four comparisons:

- exact: the statement's class is one of the requested ones;
- minimum: at least as strong as one of them (the weakest requested sets the floor);
- better: stronger than every requested one;
- maximum: as strong as possible without exceeding the strongest requested one.

A request we cannot satisfy — only unknown classes or declarations, or `better` than our best —
gets the NoAuthnContext status instead of an assertion it did not ask for. An SP registered to need
level 2 always gets the second factor performed; the statement still names a class its request
allows (a password is also what was done), so `exact` PasswordProtectedTransport keeps working.
"""
from __future__ import annotations

from dataclasses import dataclass

from idp.authn import levels

LOA1, LOA2 = levels.LOA1, levels.LOA2
PASSWORD_PROTECTED_TRANSPORT, PASSWORD = levels.SAML_PASSWORD_PROTECTED, levels.SAML_PASSWORD
REFEDS_MFA, TIME_SYNC_TOKEN = levels.SAML_REFEDS_MFA, levels.SAML_TIME_SYNC_TOKEN
MOBILE_TWO_FACTOR = levels.SAML_MOBILE_TWO_FACTOR

# Class → level (1, 2 …: idp.authn.levels.ORDER, declared there once), in the order we prefer to
# state them; the first of each level is our default.
LEVELS = {uri: levels.rank(level) + 1 for uri, level in levels.SAML_LEVEL_OF.items()}
BEST = max(LEVELS.values())
# The highest level an open-ended request (minimum, better) reaches unless it names a LoA 3 class:
# a passkey is never demanded of citizens by an SP that did not ask for one by name.
OPEN_BEST = LEVELS[levels.LOA2]
COMPARISONS = ("exact", "minimum", "better", "maximum")


@dataclass(frozen=True)
class Requirement:
    """What answering takes: the level to perform (`floor`), the highest level the statement may
    name (`ceiling`), and the requested classes to prefer when naming one."""

    floor: int = 1
    ceiling: int = BEST
    classes: tuple[str, ...] = ()  # requested classes we know, preferred when stating a level
    exact: bool = False  # the statement must name one of `classes`

    def class_for(self, achieved: int) -> str:
        """The AuthnContextClassRef for a sign-in that reached level `achieved` (≥ floor)."""
        level = min(achieved, self.ceiling)
        for uri in self.classes:
            if LEVELS[uri] == level:
                return uri
        if self.exact:  # e.g. password or LoA 3 asked, TOTP done: the password class (it was done too)
            return max((uri for uri in self.classes if LEVELS[uri] <= level), key=lambda uri: LEVELS[uri])
        return next(uri for uri, lvl in LEVELS.items() if lvl == level)

    @property
    def requires_second_factor(self) -> bool:
        return self.floor >= 2


def requirement(class_refs: list[str] | None, comparison: str | None, has_declarations: bool = False,
                sp_floor: int = 1) -> Requirement | None:
    """The Requirement for a request, or None when no statement we can make would satisfy it.

    `class_refs` None means no RequestedAuthnContext (then only the SP's own floor applies).
    """
    if class_refs is None and not has_declarations:
        return Requirement(floor=sp_floor)
    known = tuple(dict.fromkeys(uri for uri in class_refs or () if uri in LEVELS))
    if not known:  # only classes we do not know, or AuthnContextDeclRefs: we cannot judge them
        return None
    levels = [LEVELS[uri] for uri in known]
    comparison = comparison or "exact"  # the schema's default
    if comparison == "exact":
        floor, ceiling = min(levels), max(levels)
    elif comparison == "minimum":
        floor, ceiling = min(levels), _open_ceiling(levels)
    elif comparison == "better":
        floor, ceiling = max(levels) + 1, _open_ceiling(levels)
    elif comparison == "maximum":
        floor, ceiling = 1, max(levels)
    else:
        return None
    if floor > ceiling:
        return None
    return Requirement(floor=max(floor, sp_floor), ceiling=ceiling, classes=known, exact=comparison == "exact")


def _open_ceiling(requested: list[int]) -> int:
    return BEST if max(requested) > OPEN_BEST else OPEN_BEST
