"""Signed, expiring manage links (`/subscribe/m/<token>`): they name one business and an expiry, and cannot be forged.

No password and no cookie: whoever holds the link (sent to the business's verified email, or opened after an SMS
code) manages that one record until it expires. The contact masks (schemas.contacts) are re-exported for the pages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from schemas.contacts import mask_email, mask_mobile, mask_openid, mask_url

MANAGE_TTL = dt.timedelta(hours=24)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), b"manage:" + payload.encode(), hashlib.sha256).digest())


def make_manage_token(secret: str, credit_code: str, now: dt.datetime, ttl: dt.timedelta = MANAGE_TTL) -> str:
    payload = _b64(f"{credit_code}:{int((now + ttl).timestamp())}".encode())
    return f"{payload}.{_mac(secret, payload)}"


@dataclass(frozen=True)
class ManageToken:
    credit_code: str
    expired: bool


def read_manage_token(secret: str, token: str, now: dt.datetime) -> ManageToken | None:
    """The business a genuine token names (and whether it expired); None for anything forged or malformed."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        code, _, until = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().partition(":")
        expires = int(until)
    except (ValueError, UnicodeDecodeError):
        return None
    return ManageToken(code, now.timestamp() >= expires)


__all__ = ["ManageToken", "make_manage_token", "mask_email", "mask_mobile", "mask_openid", "mask_url", "read_manage_token"]
