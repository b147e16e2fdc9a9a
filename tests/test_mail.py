"""Mail over real SMTP (aiosmtpd on loopback), or to the outbox folder when no server is set."""
from email import message_from_bytes, policy

import pytest

from idp.identity import emails
from idp.mail import Mailer


def test_smtp_delivery(smtp):
    mailer = Mailer("IdP <no-reply@idp.test>", smtp.url)
    assert mailer.send("citizen@example.com", *emails.password_changed())
    message = smtp.last_to("citizen@example.com")
    assert "كلمة المرور" in message["Subject"] and "password" in message["Subject"].lower()
    assert "contact support" in smtp.body(message)


def test_outbox_when_no_server(tmp_path):
    mailer = Mailer("IdP <no-reply@idp.test>", "", tmp_path / "outbox")
    assert mailer.send("citizen@example.com", *emails.verify_email("http://127.0.0.1:5000/x", 24))
    [path] = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "citizen@example.com"
    assert "http://127.0.0.1:5000/x" in message.get_body(("plain",)).get_content()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_unreachable_server_is_logged_not_raised(caplog):
    mailer = Mailer("IdP <no-reply@idp.test>", "smtp://127.0.0.1:1")
    assert mailer.send("citizen@example.com", "subject", "body") is False
    assert "not sent" in caplog.text and "citizen@example.com" not in caplog.text


@pytest.mark.parametrize("address, masked", [
    ("noura@example.com", "no***@example.com"),
    ("nasser@example.com", "na***@example.com"),   # told apart from noura@ by the second letter
    ("abc@example.com", "a***@example.com"),       # a short name shows less
    ("a@example.com", "a***@example.com"),
])
def test_masked_addresses_can_be_told_apart(address, masked):
    from idp.identity.emails import mask_email

    assert mask_email(address) == masked
