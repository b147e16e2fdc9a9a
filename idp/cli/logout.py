"""idp logout …: back-channel logout tokens waiting for their portals."""
import time

import click
from sqlalchemy import func, select

from idp.cli import emit, json_option, services
from idp.models import LogoutDelivery
from idp.oidc import logout_delivery


@click.group("logout")
def group():
    """Back-channel logout deliveries (OpenID Connect Back-Channel Logout 1.0)."""


@group.command("deliver")
@click.option("--until-done", is_flag=True,
              help="Keep going, through the retry delays, until nothing is pending.")
@json_option
def deliver(until_done, as_json):
    """Send the logout tokens that are due (run from cron every minute: a portal owed a token by a
    command such as `idp user lock` is told then, if no web instance told it first)."""
    deliverer = logout_delivery.from_services(services())
    attempted = deliverer.deliver_due()
    while until_done and (wait := deliverer.next_due_in()) is not None:
        time.sleep(min(wait, 60.0))
        attempted += deliverer.deliver_due()
    with services().db.session() as session:
        counts = dict(session.execute(select(LogoutDelivery.state, func.count()).group_by(LogoutDelivery.state)).all())
    result = {"attempted": attempted, "pending": counts.get("pending", 0), "failed": counts.get("failed", 0)}
    emit(result, as_json, ", ".join(f"{k}: {v}" for k, v in result.items()))
