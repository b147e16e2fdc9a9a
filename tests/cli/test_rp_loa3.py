"""idp rp register-oidc --require-loa3: a portal whose every sign-in is a passkey sign-in."""
import json

from sqlalchemy import select

from idp.models import RelyingParty


def test_register_oidc_requiring_loa3(runner, db):
    result = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Portal", "--redirect-uri",
                                 "https://portal.example.gov.sa/cb", "--require-loa3", "--json"])
    assert result.exit_code == 0, result.output
    rp = db.scalar(select(RelyingParty).where(RelyingParty.client_id == json.loads(result.output)["client_id"]))
    assert rp.require_loa3 and rp.require_loa2  # LoA 3 includes what LoA 2 asks for
