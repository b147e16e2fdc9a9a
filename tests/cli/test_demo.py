"""idp demo setup: the registry's people it offers for registration have a mobile for the SMS code."""
import json

from sqlalchemy import func, select, update

from idp.identity.contact import normalise_mobile
from idp.models import RegistryPerson


def test_people_to_register_have_a_registry_mobile(runner, db, people):
    db.execute(update(RegistryPerson).values(mobile=None))  # as if seeded before mobiles existed
    db.commit()
    result = runner.invoke(args=["idp", "demo", "setup", "--json"])
    assert result.exit_code == 0, result.output
    offered = json.loads(result.output)["people_to_register"]
    assert offered and all(normalise_mobile(p["mobile"]) == p["mobile"] for p in offered)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(RegistryPerson).where(RegistryPerson.mobile.is_(None))) == 0


# --- idp demo mail (issue 12, Deliver 7): the latest mails readable, links on their own lines ---

LINK = "http://127.0.0.1:5000/register/confirm/abc123?x=1"


def test_mail_shows_waiting_mail_decrypted(runner, services):
    services.mailer.delivery = "external"  # stays in the table, encrypted
    services.mailer.send("citizen@example.com", "تأكيد البريد", f"افتح الرابط:\n{LINK}\n")
    result = runner.invoke(args=["idp", "demo", "mail"])
    assert result.exit_code == 0, result.output
    assert "to citizen@example.com" in result.output and "Subject: تأكيد البريد" in result.output
    assert "افتح الرابط:" in result.output and f"Link: {LINK}" in result.output


def test_mail_shows_the_file_outbox_in_plain_text(runner, services, tmp_path):
    from idp.mail import Mailer

    written = Mailer("idp@example.com", "", services.settings.outbox_path)
    written.send("other@example.com", "Reset your password", f"Use this link: {LINK}\nIt works once.")
    result = runner.invoke(args=["idp", "demo", "mail", "--last", "1"])
    assert result.exit_code == 0, result.output
    assert "Subject: Reset your password" in result.output and "It works once." in result.output
    assert f"Link: {LINK}" in result.output


def test_mail_with_none_says_so(runner):
    result = runner.invoke(args=["idp", "demo", "mail"])
    assert result.exit_code == 0 and result.output.strip() == "No mail yet."


def test_mail_refuses_a_bad_count(runner):
    result = runner.invoke(args=["idp", "demo", "mail", "--last", "0"])
    assert result.exit_code != 0
