"""Masked forms of a business's contact points, as every page and API answer shows them (PIPL: only what the
reader needs). The forms follow domain.md's personal-data masking: mobile `138****5678`, email `z***@example.com`;
a webhook URL keeps its scheme and host, a WeChat openid its first four and last three characters.

Pure functions (no I/O), so the store can mask what it writes on the audit trail and the API what it answers.
"""

from __future__ import annotations

import re
from typing import Any

# The stored record's contact fields (schemas.subscriber.CONTACT_FIELD's values), masked in every answer.
CONTACT_FIELDS = ("mobile", "email", "webhook_url", "wechat_openid")

_EMAIL_IN_TEXT = re.compile(r"[^@\s<>\"'(),;:]+@[^@\s<>\"'(),;:]+\.[A-Za-z]{2,}")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_mobile(mobile: str | None) -> str:
    return f"{mobile[:3]}****{mobile[-4:]}" if mobile else ""  # the same 138****5678 form screening shows


def mask_email(email: str | None) -> str:
    if not email:
        return ""
    user, _, domain = email.partition("@")
    return f"{user[:1]}***@{domain}"


def mask_url(url: str | None) -> str:
    """Scheme and host only: the path and query of a webhook URL often carry a key."""
    if not url:
        return ""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]  # never credentials, should a stored URL carry any
    return f"{scheme}://{host}/…"


def mask_openid(openid: str | None) -> str:
    return f"{openid[:4]}…{openid[-3:]}" if openid else ""


MASKS = {"mobile": mask_mobile, "email": mask_email, "webhook_url": mask_url, "wechat_openid": mask_openid}


def mask_contact(field: str, value: Any) -> Any:
    """`value` of contact `field` masked (None stays None); other fields pass unchanged."""
    if field not in MASKS or not isinstance(value, str) or not value:
        return value
    return MASKS[field](value)


def mask_text(text: str) -> str:
    """Free text (a delivery's detail, an SMTP error) with any email address or mainland mobile number in it masked."""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)
    return _MOBILE_IN_TEXT.sub(lambda m: mask_mobile(m.group()), text)
