"""The forms Masar asks citizens to fill in, with their fixed lists and the rules for each field."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectChoice, TelField
from wtforms.validators import InputRequired, ValidationError

HEALTH = (
    SelectChoice("healthy", _l("Healthy")),
    SelectChoice("chronic", _l("Chronic illness")),
    SelectChoice("treatment", _l("Under medical treatment")),
    SelectChoice("undisclosed", _l("Prefer not to say")),
)
DISABILITY = (
    SelectChoice("none", _l("None")),
    SelectChoice("physical", _l("Physical")),
    SelectChoice("visual", _l("Visual")),
    SelectChoice("hearing", _l("Hearing")),
    SelectChoice("intellectual", _l("Intellectual")),
    SelectChoice("other", _l("Other")),
)

# Arabic-Indic and Eastern Arabic-Indic digits, as Arabic keyboards type them.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
# Saudi mobiles are 5 and eight digits (country code 966), written 05…, 5…, +966…, 00966… or 966….
_SAUDI_MOBILE = re.compile(r"(?:\+966|00966|966|0)?(5[0-9]{8})")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3


def label(choices, code: str | None) -> str:
    """The (translated) label of a code from one of the fixed lists."""
    return str({choice.value: choice.label for choice in choices}.get(code, code or ""))


def saudi_mobile(text: str | None) -> str | None:
    """The number as +9665XXXXXXXX, or None when it is not a Saudi mobile number."""
    compact = re.sub(r"[\s-]", "", (text or "").translate(_DIGITS))
    match = _SAUDI_MOBILE.fullmatch(compact) if len(compact) <= 16 else None
    return "+966" + match.group(1) if match else None


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _one_of(choices, message):
    codes = {choice.value for choice in choices}

    def check(_form, field):
        if field.data not in codes:
            raise ValidationError(message)
    return check


def _email_shape(_form, field):
    if len(field.data) > MAX_EMAIL or not _EMAIL.fullmatch(field.data):
        raise ValidationError(_l("Enter an email address like name@example.com."))


def _mobile_shape(_form, field):
    normalised = saudi_mobile(field.data)
    if normalised is None:
        raise ValidationError(_l("Enter a Saudi mobile number, e.g. 05XXXXXXXX."))
    field.data = normalised  # stored in one form, however it was typed


class ProfileForm(FlaskForm):
    """What Masar itself needs: health status, disability category, and how to reach the citizen."""

    # Choices are checked by _one_of, with a message of ours rather than WTForms' generic one.
    health = RadioField(_l("Health status"), choices=HEALTH, validate_choice=False, validators=[
        InputRequired(_l("Choose your health status.")),
        _one_of(HEALTH, _l("Choose one of the listed health statuses."))])
    disability = RadioField(_l("Disability"), choices=DISABILITY, validate_choice=False, validators=[
        InputRequired(_l("Choose a disability category, or None.")),
        _one_of(DISABILITY, _l("Choose one of the listed disability categories."))])
    email = EmailField(_l("Email"), filters=[_strip], validators=[
        InputRequired(_l("Enter your email address.")), _email_shape])
    mobile = TelField(_l("Mobile number"), filters=[_strip], validators=[
        InputRequired(_l("Enter your mobile number.")), _mobile_shape])
