"""idp mail …: the mail outbox (idp/outbox.py) — its state, and delivery from a process of its own."""
from __future__ import annotations

import signal
import threading

import click

from idp.cli import emit, json_option, services


@click.group("mail")
def group():
    """Outgoing mail: what waits in the outbox, and delivering it."""


@group.command("status")
@json_option
def status(as_json):
    """How many messages wait for delivery, and how old the oldest is."""
    pending, oldest = services().mailer.queue.depth()
    emit({"pending": pending, "oldest_seconds": round(oldest)}, as_json,
         f"{pending} message(s) waiting; oldest {round(oldest)} s")


@group.command("send")
@click.option("--loop", is_flag=True, help="Keep delivering until SIGTERM or SIGINT (a sender process).")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between rounds with --loop.")
@json_option
def send(loop, interval, as_json):
    """Deliver every message that is due (with IDP_MAIL_DELIVERY=external, run this with --loop)."""
    mailer = services().mailer
    sent, failed = mailer.queue.deliver_due(mailer)
    if loop:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(interval):
            more_sent, more_failed = mailer.queue.deliver_due(mailer)
            sent, failed = sent + more_sent, failed + more_failed
    emit({"sent": sent, "not_sent": failed}, as_json, f"{sent} sent, {failed} not sent (will be retried)")
