"""What a service did, as one value (login.gov's FormResponse: success, errors, extra).

Services that change an identity's credentials return an `Outcome`; the web layer renders it (the
errors by form field, translated there) and `idp.audit.record_outcome` records it. The event name is
decided once, by the service that knows what happened — not by each view that calls it. `extra`
goes into the audit log: never personal data, never a secret. `value` is what the caller shows
(recovery codes, an address to mask) and is never recorded.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

WHOLE = ""  # the errors key of a refusal no single form field caused (the request as a whole)


@dataclasses.dataclass(frozen=True)
class Outcome:
    success: bool
    event: str | None = None  # the audit event; None: nothing worth recording happened
    identity_id: int | None = None
    errors: Mapping[str, str] = dataclasses.field(default_factory=dict)  # form field → message msgid
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # audit details
    value: Any = None  # for the caller to show; not recorded
    also: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # further (event, extra), recorded after `event`

    @classmethod
    def done(cls, event: str, identity_id: int | None, value: Any = None, **extra: Any) -> Outcome:
        return cls(True, event, identity_id, {}, extra, value)

    @classmethod
    def refused(cls, field: str, message: str, identity_id: int | None = None, event: str | None = None,
                **extra: Any) -> Outcome:
        return cls(False, event, identity_id, {field: message}, extra)

    def then(self, event: str, **extra: Any) -> Outcome:
        """This outcome with one more event to record after its own (a failure that also locked)."""
        return dataclasses.replace(self, also=(*self.also, (event, extra)))
