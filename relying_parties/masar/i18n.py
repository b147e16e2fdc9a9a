"""Arabic first, English one click away: the language is the visible switch's cookie, else the
browser's (Accept-Language, Arabic or English), else Arabic. The language shown is the one sent to
the IdP, so the citizen reads one language across sites (issue 12).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, request, url_for
from flask_babel import Babel, force_locale, get_locale, gettext

LOCALES = ("ar", "en")
LOCALE_COOKIE = "masar_lang"  # not the IdP's cookie name: cookies are shared across ports of one host

bp = Blueprint("i18n", __name__)
babel = Babel()


def select_locale() -> str:
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES, default="ar")


def current() -> str:
    return str(get_locale() or "ar")


def other_language(message: str) -> str:
    """The message in the language not shown, for pages that say it in both."""
    with force_locale("en" if current() == "ar" else "ar"):
        return gettext(message)


# The Umm al-Qura months (as idp/identity/birthdate.py names them; a portal never imports the IdP).
HIJRI_MONTHS = {
    "ar": ("محرم", "صفر", "ربيع الأول", "ربيع الآخر", "جمادى الأولى", "جمادى الآخرة", "رجب", "شعبان",
           "رمضان", "شوال", "ذو القعدة", "ذو الحجة"),
    "en": ("Muharram", "Safar", "Rabi al-Awwal", "Rabi al-Thani", "Jumada al-Ula", "Jumada al-Akhirah",
           "Rajab", "Shaban", "Ramadan", "Shawwal", "Dhu al-Qadah", "Dhu al-Hijjah"),
}


def hijri_in_words(claim: str | None) -> str:
    """The IdP's `birthdate_hijri` claim ("1410-09-15") with its month named in the page's language;
    anything else as it came."""
    try:
        year, month, day = (int(part) for part in str(claim or "").split("-"))
        name = HIJRI_MONTHS[current()][month - 1] if 1 <= month <= 12 else None
    except (ValueError, KeyError):
        name = None
    if name is None:
        return str(claim or "")
    return f"{day} {name} {year} هـ" if current() == "ar" else f"{day} {name} {year} AH"


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "ar")
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.add_template_global(other_language)
    app.add_template_filter(hijri_in_words)
    # Marks a msgid for extraction (pybabel -k N_) where it is translated later, by _ or other_language.
    app.add_template_global(lambda message: message, "N_")

    @app.context_processor
    def locale_context():
        lang = current()
        # The switch comes back to the same page, except to the callback: its code works only once.
        here = "/" if request.endpoint == "auth.callback" else request.full_path.rstrip("?")
        return {"lang": lang, "dir": "rtl" if lang == "ar" else "ltr",
                "other_lang": "en" if lang == "ar" else "ar", "here": here}


def safe_next(target: str | None) -> str:
    """Only a local path: never an open redirect."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("views.home")
    return target


@bp.get("/lang/<code>")
def switch(code: str):
    """The language switch: a plain link, so it works without JavaScript."""
    response = redirect(safe_next(request.args.get("next")))
    if code in LOCALES:
        response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response
