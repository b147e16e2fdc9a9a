"""idp.errors and its mappers (idp.web.errors, idp.cli.IdpGroup): every error says how each surface
answers it, and one place per surface turns it into a response."""
from __future__ import annotations

import click
import click.testing
import pytest

from idp import errors
from idp.cli import IdpGroup
from idp.oidc.introspection import NotAResourceServer
from idp.saml.guard import MessageRejected
from idp.store import StoreUnavailable


def test_protocol_errors_carry_their_codes():
    redirect = errors.ErrorRedirect("access_denied", "the user declined", "https://rp.example/cb", "xyz")
    assert (redirect.oauth_error, redirect.description, redirect.state) == ("access_denied", "the user declined", "xyz")
    refused = NotAResourceServer("portal")
    assert (refused.oauth_error, refused.http_status, refused.client_id) == ("unauthorized_client", 403, "portal")
    assert MessageRejected("bad").saml_status.endswith(":Requester")
    assert errors.ErrorPage("repeated").saml_status.endswith(":Requester")
    assert errors.IdpError().saml_status.endswith(":Responder")


def test_the_store_being_down_is_one_of_ours():
    down = StoreUnavailable("connection refused")
    assert isinstance(down, errors.ServiceUnavailable)
    assert (down.http_status, down.oauth_error) == (503, "temporarily_unavailable")
    assert down.message == "store unavailable: connection refused"


@pytest.mark.parametrize("error, status", [(errors.NotFound(), 404), (errors.Conflict(), 409),
                                           (errors.ValidationError("bad"), 400), (errors.ServiceUnavailable(), 503)])
def test_an_idp_error_no_view_answers_is_a_page_with_its_status(app, error, status):
    @app.get("/test-raises")
    def raises():
        raise error

    response = app.test_client().get("/test-raises", headers={"Accept-Language": "ar"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert '<html lang="ar" dir="rtl">' in response.get_data(as_text=True)  # translated


def test_the_cli_answers_an_idp_error_with_one_line_and_a_non_zero_exit():
    @click.group(cls=IdpGroup)
    def group():
        pass

    @group.command()
    def fails():
        raise StoreUnavailable("connection refused")

    result = click.testing.CliRunner().invoke(group, ["fails"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: store unavailable: connection refused"


def test_an_untrusted_authorization_request_is_our_page(client):
    response = client.get("/oidc/authorize?client_id=a&client_id=b")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_userinfo_refusals_say_why_in_www_authenticate(client):
    response = client.get("/oidc/userinfo?access_token=x")
    assert response.status_code == 400
    assert response.json == {"error": "invalid_request",
                             "error_description": "access_token in the query string is not accepted (RFC 6750 §2.3)"}
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'
    response = client.get("/oidc/userinfo", headers={"Authorization": "Bearer nonsense"})
    assert (response.status_code, response.json) == (401, {"error": "invalid_token"})
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["Cache-Control"] == "no-store"
