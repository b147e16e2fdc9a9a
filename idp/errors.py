"""The one error hierarchy of the IdP. The web layer and the CLI map these to responses.

Messages are English msgids marked with N_ so that `pybabel extract -k N_` finds them; the web
layer translates them into the reader's language, the CLI prints them as they are.
"""


def N_(message: str) -> str:
    """Mark a message for translation without translating it here (services don't import Flask)."""
    return message


class IdpError(Exception):
    """Base of every error the IdP raises on purpose. `message` is safe to show a person."""

    http_status = 400

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
