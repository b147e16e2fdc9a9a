"""The one error hierarchy of the IdP. The web layer and the CLI map these to responses.

Messages are English msgids marked with N_ so that `pybabel extract -k N_` finds them; the web
layer translates them into the reader's language, the CLI prints them as they are.

Each error says how every surface answers it: `http_status` (the HTML page and JSON), `oauth_error`
(RFC 6749 §4.1.2.1, §5.2; OIDC Core 1.0 §3.1.2.6) and `saml_status` (SAML Core §3.2.2.2). One mapper
per surface reads them (idp.web.errors: OIDC redirect or JSON, SAML page, HTML page; idp.cli.IdpGroup:
one line and a non-zero exit); no view catches what a mapper handles. pyop's own `OAuthError` is
mapped beside ours, in the same place (idp.web.errors).
"""


def N_(message: str) -> str:
    """Mark a message for translation without translating it here (services don't import Flask)."""
    return message


class IdpError(Exception):
    """Base of every error the IdP raises on purpose. `message` is safe to show a person."""

    http_status = 400
    oauth_error: str | None = None  # the OAuth error code, for errors a relying party is told
    saml_status = "urn:oasis:names:tc:SAML:2.0:status:Responder"

    def __init__(self, message: str = "", **detail):
        super().__init__(message or self.__class__.__doc__)
        self.message = message or (self.__class__.__doc__ or "").strip()
        self.detail = detail


class ConfigError(IdpError):
    """A setting is missing or invalid."""


class ValidationError(IdpError):
    """Input was rejected. `field` names the form field it belongs to, when there is one."""

    def __init__(self, message: str, field: str | None = None, **detail):
        super().__init__(message, **detail)
        self.field = field


class NotFound(IdpError):
    """No such record."""

    http_status = 404


class Conflict(IdpError):
    """The record exists already."""

    http_status = 409


class Throttled(IdpError):
    """Too many attempts; try again later."""

    http_status = 429

    def __init__(self, message: str = "", retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(IdpError):
    """The credentials were not accepted."""

    http_status = 401


class ServiceUnavailable(IdpError):
    """A backing service (database, store, mail) cannot be reached."""

    http_status = 503
    oauth_error = "temporarily_unavailable"  # RFC 6749 §4.1.2.1, §5.2 (as the token endpoint answers)


# --- protocol errors: an OAuth error code, or a page when the request cannot be answered ---------

class ErrorPage(IdpError):
    """The request cannot be trusted enough to answer the client (an unknown client, an unregistered
    redirect_uri, a repeated parameter): our own page, never a redirect to an unchecked URI, which
    would make us an open redirector (RFC 9700 §4.11). `message` is the logged reason (bounded)."""

    saml_status = "urn:oasis:names:tc:SAML:2.0:status:Requester"


class ErrorRedirect(IdpError):
    """Answer the client at its registered, checked redirect_uri with an OAuth error (RFC 6749
    §4.1.2.1) and our issuer (RFC 9207)."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None):
        super().__init__(description)
        self.oauth_error = self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


class OAuthJsonError(IdpError):
    """An error a client calling from code gets as JSON (RFC 6749 §5.2; RFC 6750 §3 with
    `www_authenticate` for a resource such as userinfo)."""

    def __init__(self, oauth_error: str, description: str = "", http_status: int = 400,
                 www_authenticate: str | None = None):
        super().__init__(description or oauth_error)
        self.oauth_error = oauth_error
        self.description = description
        self.http_status = http_status
        self.www_authenticate = www_authenticate
