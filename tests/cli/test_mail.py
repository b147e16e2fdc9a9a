"""idp mail status / idp mail send, and idp serve's command line."""
import json

from idp.cli.serve import GUNICORN_CONFIG, gunicorn_argv
from tests.live import free_port


def test_status_and_send(app, runner, smtp, services):
    services.mailer.delivery = "external"  # only `idp mail send` delivers
    services.mailer.send("citizen@example.com", "Subject", "body")
    status = json.loads(runner.invoke(args=["idp", "mail", "status", "--json"]).output)
    assert status["pending"] == 1 and smtp.messages == []
    result = runner.invoke(args=["idp", "mail", "send"])
    assert result.exit_code == 0 and "1 sent, 0 not sent" in result.output
    assert len(smtp.to("citizen@example.com")) == 1
    assert json.loads(runner.invoke(args=["idp", "mail", "status", "--json"]).output)["pending"] == 0


def test_send_while_smtp_is_down_keeps_the_message(app, runner, services):
    services.mailer.delivery = "external"
    services.mailer.smtp_url = f"smtp://127.0.0.1:{free_port()}"
    services.mailer.send("citizen@example.com", "Subject", "body")
    result = runner.invoke(args=["idp", "mail", "send", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {"sent": 0, "not_sent": 1}
    assert json.loads(runner.invoke(args=["idp", "mail", "status", "--json"]).output)["pending"] == 1


def test_serve_runs_the_production_command():
    argv = gunicorn_argv("0.0.0.0:8000", 3, None)
    assert argv[1:5] == ["-m", "gunicorn", "-c", str(GUNICORN_CONFIG)]
    assert argv[-5:] == ["--bind", "0.0.0.0:8000", "--workers", "3", "idp.wsgi:app"]
    assert "--threads" not in argv
