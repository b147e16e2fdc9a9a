"""The citizen's enrolled approval app for tests that need an approval: driven through the approval
service's real path (idp.approval.devices), with a software WebAuthn authenticator signing over the
request and the number picked. No part of the approval is faked."""
from __future__ import annotations

import datetime as dt
import json
import time

from idp.approval import devices, requests as approvals
from idp.identity import passkeys
from tests.identity.softkey import SoftKey

APP_RP = passkeys.relying_party("http://localhost:5000", "National SSO")


class Phone:
    def __init__(self, db, identity, clock=time.time):
        self.db, self.identity, self.clock = db, identity, clock
        self.key = SoftKey(APP_RP.rp_id, APP_RP.origin)
        link = devices.enrolment_link_token(db, identity)
        db.commit()
        options, state = devices.registration_options(db, APP_RP, identity, time.time())
        self.device = devices.enrol(db, APP_RP, link, self.key.create(json.loads(options)), state, "هاتفي",
                                    time.time()).device
        db.commit()

    def _now(self):
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def pending(self):
        self.db.expire_all()
        return approvals.pending_for(self.db, self.identity.uuid, self._now())

    def pick(self, number=None):
        """Approve the pending request with `number` (default: the right one). Returns the request."""
        request = self.pending()
        number = number or request.binding_number
        credential = self.key.get(json.loads(devices.approval_options(APP_RP, self.device, request, number)))
        try:
            devices.approve(self.db, APP_RP, self.device, request.id, number, credential, self._now())
        finally:
            self.db.commit()
        return request

    def decline(self):
        request = self.pending()
        approvals.deny(self.db, request.id, self.device, self._now())
        self.db.commit()
