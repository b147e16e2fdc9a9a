"""Forms: field shapes and length limits only. The rules live in the identity services."""
from __future__ import annotations

import functools

from babel import support
from flask import current_app, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path
from wtforms import SelectChoice, EmailField, HiddenField, PasswordField, RadioField, StringField, TelField
from wtforms.validators import DataRequired, Length


@functools.cache
def _wtforms_messages(locale: str) -> support.NullTranslations:
    """WTForms' own messages (a label it makes up, a choice not offered) in `locale`, read once
    per process: Flask-WTF reads and parses the catalogue again on every request that builds a form."""
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    """Every form of ours: Flask-WTF's, with WTForms' catalogue kept per locale (idp.web.i18n
    allows only the site's few languages, so the cache stays that small)."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _wtforms_messages(str(get_locale()))


def show_errors(form, outcome) -> None:
    """A refused `idp.outcomes.Outcome`'s messages, translated, under the form fields they name."""
    from idp.web.i18n import translate

    for field, message in outcome.errors.items():
        getattr(form, field).errors.append(translate(message))


def use_link(live: bool, use, title: str, button: str, dead):
    """A single-use link from a mail: (what `use()` made of it, None), or (None, the answer to give).

    GET only asks to confirm, because mail scanners open links on their own; a confirmed POST uses
    the link. A link that is not `live`, or that `use()` finds spent (None), answers `dead()`."""
    if not live:
        return None, dead()
    form = ConfirmForm()
    if not form.validate_on_submit():
        return None, render_template("confirm.html", form=form, title=title, button=button)
    used = use()
    return (used, None) if used is not None else (None, dead())


def required(message):
    """DataRequired with the field's own message: GOV.UK's "Enter your …", never "This field is required."."""
    return DataRequired(message=message)


def limit(n: int):
    return Length(max=n, message=_l("Enter %(max)d characters or fewer."))


class LoginForm(Form):
    username = StringField(_l("Username or national ID"),
                           [required(_l("Enter your username or national ID.")), limit(64)],
                           render_kw={"autocomplete": "username webauthn", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), [required(_l("Enter your password.")), limit(1024)],
                             render_kw={"autocomplete": "current-password"})
    # Asked only when the account is under attack and this browser is not a known device.
    captcha_id = HiddenField()
    captcha = StringField(_l("The digits in the picture"), [limit(16)],
                          render_kw={"inputmode": "numeric", "autocomplete": "off"})


class OtpForm(Form):
    otp = StringField(_l("Verification code"),
                      [required(_l("Enter the 6-digit code from your authenticator app, or a recovery code.")),
                       limit(32)],
                      render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class IdentityCheckForm(Form):
    """Registration, step 1: who you are, as the civil registry knows you."""

    national_id = StringField(_l("National ID or iqama number"),
                              [required(_l("Enter your national ID or iqama number.")), limit(20)],
                              render_kw={"inputmode": "numeric", "autocomplete": "off"})
    calendar = RadioField(_l("Calendar"),
                          choices=[SelectChoice("hijri", _l("Hijri")), SelectChoice("gregorian", _l("Gregorian"))],
                          default="hijri", validators=[required(_l("Select the calendar of your date of birth."))])
    birth_date = StringField(_l("Date of birth (day/month/year)"),
                             [required(_l("Enter your date of birth.")), limit(32)],
                             render_kw={"placeholder": "dd/mm/yyyy", "autocomplete": "off"})
    gender = RadioField(_l("Gender"), choices=[SelectChoice("M", _l("Male")), SelectChoice("F", _l("Female"))],
                        validators=[required(_l("Select your gender."))])
    captcha_id = HiddenField()
    captcha = StringField(_l("The digits in the picture"),
                          [required(_l("Enter the digits in the picture.")), limit(16)],
                          render_kw={"inputmode": "numeric", "autocomplete": "off"})


class MobileCodeForm(Form):
    """Registration, step 2: the code sent by SMS to the mobile the civil registry holds."""

    code = StringField(_l("Code from the SMS"), [required(_l("Enter the code from the SMS.")), limit(16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class CredentialsForm(Form):
    """Registration, step 2: the identity's username, password and contact details."""

    username = StringField(_l("Username"), [required(_l("Choose a username.")), limit(32)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), [required(_l("Choose a password.")), limit(1024)],
                             render_kw={"autocomplete": "new-password"})
    email = EmailField(_l("Email"),
                       [required(_l("Enter your email address.")), limit(254)], render_kw={"autocomplete": "email"})
    mobile = TelField(_l("Mobile number"), [required(_l("Enter your mobile number.")), limit(20)],
                      render_kw={"autocomplete": "tel", "placeholder": "05XXXXXXXX"})


class PasswordForm(Form):
    password = PasswordField(_l("Password"), [required(_l("Enter your password.")), limit(1024)],
                             render_kw={"autocomplete": "current-password"})
    otp = StringField(_l("Verification code"), [limit(32)],
                      render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Current password"),
                                     [required(_l("Enter your current password.")), limit(1024)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), [required(_l("Enter a new password.")), limit(1024)],
                                 render_kw={"autocomplete": "new-password"})


class NewPasswordForm(Form):
    new_password = PasswordField(_l("New password"), [required(_l("Enter a new password.")), limit(1024)],
                                 render_kw={"autocomplete": "new-password"})


class EmailForm(Form):
    email = EmailField(_l("New email"),
                       [required(_l("Enter your new email address.")), limit(254)], render_kw={"autocomplete": "email"})


class RecoveryRequestForm(Form):
    national_id = StringField(_l("National ID or iqama number"),
                              [required(_l("Enter your national ID or iqama number.")), limit(20)],
                              render_kw={"inputmode": "numeric"})
    email = EmailField(_l("Registered email"),
                       [required(_l("Enter the email address you registered with.")), limit(254)],
                       render_kw={"autocomplete": "email"})


class ConfirmForm(Form):
    """A button that confirms a link (a GET must not use up a single-use link: mail scanners open links)."""


class AppSignInForm(Form):
    """"Sign in with the app": who is signing in; the phone does the rest (issue 14)."""
    username = StringField(_l("Username or national ID"),
                           [required(_l("Enter your username or national ID.")), limit(64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
