"""Arabic first, English beside it: the locale comes from the language a relying party asked for
(`ui_locales`, OIDC Core 1.0 §3.1.2.1) while that request's pages are shown, then the visible
switch (a cookie), then Accept-Language, then the default (Arabic). The request's language is
kept with the pending request, never in the cookie: the citizen's own choice outlives it.
Catalogues live in idp/translations."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import Babel, get_locale, gettext

from idp.identity import birthdate

LOCALES = ("ar", "en")
LOCALE_COOKIE = "idp_lang"
RTL = {"ar"}
REQUEST_LOCALE = "request_locale"  # session: [kind, id] of the pending request whose language is shown
RIYADH = dt.timezone(dt.timedelta(hours=3), "AST")  # Saudi Arabia keeps UTC+3 all year (no DST)

bp = Blueprint("i18n", __name__)
babel = Babel()


def follow_request_locale(kind: str, pending_id: str) -> None:
    """Show the pages of this pending request in the language it carries (`ui_locale` in its record)."""
    session[REQUEST_LOCALE] = [kind, pending_id]


def _request_locale() -> str | None:
    """The language of the relying party's request being answered, while it is pending."""
    ref = session.get(REQUEST_LOCALE)
    if not (isinstance(ref, list) and len(ref) == 2):
        return None
    from idp.web import gate  # gate renders pages, which ask for the locale

    record = gate.recall(*ref)
    lang = record.get("ui_locale") if isinstance(record, dict) else None
    return lang if lang in LOCALES else None


def select_locale() -> str:
    asked = _request_locale()
    if asked:
        return asked
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    default = current_app.extensions["idp"].settings.default_locale
    return request.accept_languages.best_match(LOCALES, default=default)


@bp.app_template_filter("riyadh_time")
def riyadh_time(moment: dt.datetime) -> str:
    """A stored time (UTC; naive means UTC) as citizens read clocks: Riyadh time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(RIYADH).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("hijri_in_words")
def hijri_in_words(date: dt.date) -> str:
    """A date in the Umm al-Qura calendar, its month named in the page's language."""
    return birthdate.hijri_in_words(date, str(get_locale() or "ar")) or ""


def init_app(app) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def locale_context():
        lang = str(get_locale() or "ar")
        return {"lang": lang, "dir": "rtl" if lang in RTL else "ltr",
                "other_lang": "en" if lang == "ar" else "ar"}


def translate(message: str) -> str:
    """Translate an N_-marked msgid raised by a service."""
    return gettext(message) if message else message


def safe_next(target: str | None) -> str:
    """Only a local path: never an open redirect."""
    if not target:
        return url_for("auth.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("auth.home")
    return target


@bp.get("/lang/<code>")
def switch(code: str):
    """The language switch: a plain link, so it works without JavaScript."""
    response = redirect(safe_next(request.args.get("next")))
    if code in LOCALES:
        session.pop(REQUEST_LOCALE, None)  # the citizen's choice wins over the portal's
        response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, secure=request.is_secure)
    return response
