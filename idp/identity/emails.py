"""The mail the IdP sends, Arabic first with English below: a citizen may read either."""
from __future__ import annotations

SIGNATURE = "النفاذ الوطني الموحد — National Single Sign-On"


def _compose(subject_ar: str, subject_en: str, body_ar: str, body_en: str) -> tuple[str, str]:
    return (f"{subject_ar} | {subject_en}",
            f"{body_ar}\n\n-----\n\n{body_en}\n\n{SIGNATURE}\n")


def verify_email(link: str, hours: int) -> tuple[str, str]:
    return _compose(
        "تأكيد البريد الإلكتروني", "Confirm your email address",
        f"لتأكيد بريدك الإلكتروني في النفاذ الوطني الموحد افتح الرابط التالي خلال {hours} ساعة:\n{link}\n"
        "إذا لم تطلب ذلك فتجاهل هذه الرسالة.",
        f"To confirm your email address for National Single Sign-On, open this link within {hours} hours:\n"
        f"{link}\nIf you did not ask for this, ignore this message.")


def password_recovery(link: str, minutes: int) -> tuple[str, str]:
    return _compose(
        "استعادة كلمة المرور", "Reset your password",
        f"طُلبت استعادة كلمة المرور لهويتك الرقمية. الرابط صالح لمرة واحدة خلال {minutes} دقيقة:\n{link}\n"
        "إذا لم تطلب ذلك فتجاهل هذه الرسالة؛ كلمة مرورك الحالية لم تتغير.",
        f"A password reset was requested for your digital identity. This link works once, within "
        f"{minutes} minutes:\n{link}\nIf you did not ask for this, ignore this message; your password "
        "has not changed.")


def password_changed() -> tuple[str, str]:
    return _compose(
        "تم تغيير كلمة المرور", "Your password was changed",
        "تم تغيير كلمة مرور هويتك الرقمية وأُنهيت جميع الجلسات. إذا لم تقم بذلك فتواصل مع الدعم فوراً.",
        "The password of your digital identity was changed and every session was signed out. "
        "If this was not you, contact support at once.")


def second_factor_changed(enabled: bool) -> tuple[str, str]:
    state_ar = "تفعيل" if enabled else "إلغاء"
    state_en = "turned on" if enabled else "turned off"
    return _compose(
        "تغيير في التحقق الثنائي", "Two-step verification changed",
        f"تم {state_ar} التحقق الثنائي لهويتك الرقمية. إذا لم تقم بذلك فتواصل مع الدعم فوراً.",
        f"Two-step verification was {state_en} for your digital identity. If this was not you, "
        "contact support at once.")


def email_change_requested(new_email_masked: str, hours: int) -> tuple[str, str]:
    """To the old address when a change is asked for: nothing has changed yet (the new address
    must be confirmed first), so the owner can still stop it."""
    return _compose(
        "طلب تغيير البريد الإلكتروني", "A change of your email address was requested",
        f"طُلب تغيير البريد الإلكتروني لهويتك الرقمية إلى {new_email_masked}. لم يتغير شيء بعد: يتم التغيير "
        f"فقط عند فتح الرابط المرسل إلى العنوان الجديد خلال {hours} ساعة. إذا لم تطلب ذلك فغيّر كلمة "
        "المرور الآن (فيتوقف الرابط عن العمل) وتواصل مع الدعم.",
        f"A change of the email address of your digital identity to {new_email_masked} was requested. "
        f"Nothing has changed yet: it changes only if the link sent to the new address is opened within "
        f"{hours} hours. If this was not you, change your password now (the link then stops working) "
        "and contact support.")


def email_changed(new_email_masked: str) -> tuple[str, str]:
    """To the old address once the new one is confirmed."""
    return _compose(
        "تغيير البريد الإلكتروني", "Your email address was changed",
        f"تم تغيير البريد الإلكتروني لهويتك الرقمية إلى {new_email_masked}. إذا لم تقم بذلك فتواصل مع الدعم فوراً.",
        f"The email address of your digital identity was changed to {new_email_masked}. If this was "
        "not you, contact support at once.")


def mask_email(email: str) -> str:
    """The first two characters and the domain (the first one of a short name): enough to tell
    two addresses apart, too little to read one out."""
    local, _, domain = email.partition("@")
    shown = local[:2] if len(local) > 3 else local[:1]
    return f"{shown}***@{domain}"


def identity_reclaimed() -> tuple[str, str]:
    """To the address of an identity that the person in the civil registry took back."""
    return _compose(
        "استُعيدت هوية رقمية سجّلتها", "A digital identity you registered was taken back",
        "الشخص المسجَّل في السجل المدني أثبت امتلاكه رقم الجوال المسجَّل له واستعاد الهوية الرقمية التي "
        "سُجّلت ببريدك الإلكتروني. لم تعد بيانات الدخول السابقة تعمل وأُنهيت جميع الجلسات. إذا كانت هذه "
        "هويتك فتواصل مع الدعم.",
        "The person the civil registry lists proved they hold the mobile number registered for them and "
        "took back the digital identity registered with your email address. The old sign-in details no "
        "longer work and every session was ended. If this identity is yours, contact support.")


def passkey_changed(added: bool) -> tuple[str, str]:
    """A passkey was added to or removed from the identity (issue 14)."""
    state_ar = "إضافة" if added else "حذف"
    state_en = "added to" if added else "removed from"
    return _compose(
        "تغيير في مفاتيح المرور", "Passkeys changed",
        f"تمت {state_ar} مفتاح مرور لهويتك الرقمية. إذا لم تقم بذلك فتواصل مع الدعم فوراً.",
        f"A passkey was {state_en} your digital identity. If this was not you, contact support at once.")
