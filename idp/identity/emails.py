"""The mail the IdP sends, Arabic first with English below: a citizen may read either."""
from __future__ import annotations

SIGNATURE = "النفاذ الوطني الموحد — National Single Sign-On"


def _compose(subject_ar: str, subject_en: str, body_ar: str, body_en: str) -> tuple[str, str]:
    return (f"{subject_ar} | {subject_en}",
            f"{body_ar}\n\n-----\n\n{body_en}\n\n{SIGNATURE}\n")


def _security_change(subject_ar: str, subject_en: str, what_ar: str, what_en: str) -> tuple[str, str]:
    """A change to how the identity signs in, told to its address: if it was not them, they act."""
    return _compose(subject_ar, subject_en, f"{what_ar} إذا لم تقم بذلك فتواصل مع الدعم فوراً.",
                    f"{what_en} If this was not you, contact support at once.")


def _link_mail(subject: tuple[str, str], lead: tuple[str, str], link: str,
               after: tuple[str, str] = (".", ".")) -> tuple[str, str]:
    """A mail carrying a link, on a line of its own (mail clients keep it whole), that whoever did
    not ask for it may ignore. Each pair is (Arabic, English)."""
    return _compose(subject[0], subject[1],
                    f"{lead[0]}:\n{link}\nإذا لم تطلب ذلك فتجاهل هذه الرسالة{after[0]}",
                    f"{lead[1]}:\n{link}\nIf you did not ask for this, ignore this message{after[1]}")


def verify_email(link: str, hours: int) -> tuple[str, str]:
    return _link_mail(
        ("تأكيد البريد الإلكتروني", "Confirm your email address"),
        (f"لتأكيد بريدك الإلكتروني في النفاذ الوطني الموحد افتح الرابط التالي خلال {hours} ساعة",
         f"To confirm your email address for National Single Sign-On, open this link within {hours} hours"), link)


def password_recovery(link: str, minutes: int) -> tuple[str, str]:
    return _link_mail(
        ("استعادة كلمة المرور", "Reset your password"),
        (f"طُلبت استعادة كلمة المرور لهويتك الرقمية. الرابط صالح لمرة واحدة خلال {minutes} دقيقة",
         f"A password reset was requested for your digital identity. This link works once, within {minutes} minutes"),
        link, ("؛ كلمة مرورك الحالية لم تتغير.", "; your password has not changed."))


def password_changed() -> tuple[str, str]:
    return _security_change(
        "تم تغيير كلمة المرور", "Your password was changed",
        "تم تغيير كلمة مرور هويتك الرقمية وأُنهيت جميع الجلسات.",
        "The password of your digital identity was changed and every session was signed out.")


def second_factor_changed(enabled: bool) -> tuple[str, str]:
    return _security_change(
        "تغيير في التحقق الثنائي", "Two-step verification changed",
        f"تم {'تفعيل' if enabled else 'إلغاء'} التحقق الثنائي لهويتك الرقمية.",
        f"Two-step verification was {'turned on' if enabled else 'turned off'} for your digital identity.")


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
    return _security_change(
        "تغيير البريد الإلكتروني", "Your email address was changed",
        f"تم تغيير البريد الإلكتروني لهويتك الرقمية إلى {new_email_masked}.",
        f"The email address of your digital identity was changed to {new_email_masked}.")


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
    return _security_change(
        "تغيير في مفاتيح المرور", "Passkeys changed",
        f"تمت {'إضافة' if added else 'حذف'} مفتاح مرور لهويتك الرقمية.",
        f"A passkey was {'added to' if added else 'removed from'} your digital identity.")
