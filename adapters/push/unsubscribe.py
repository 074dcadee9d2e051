"""Signed one-click unsubscribe tokens (RFC 8058): they name the business and the list, and cannot be forged."""

from __future__ import annotations

import base64
import hashlib
import hmac

CHANNELS = ("all", "sms", "email", "webhook", "wechat_template")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def make_token(secret: str, credit_code: str, channel: str, campaign: str = "") -> str:
    """`campaign`: the publication whose message carried the link (its campaign counts the unsubscribe)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown unsubscribe list {channel!r}")
    payload = _b64(":".join([credit_code, channel, campaign] if campaign else [credit_code, channel]).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_token(secret: str, token: str) -> tuple[str, str, str] | None:
    """(credit_code, channel, campaign or "") of a valid token, else None."""
    if not token.isascii():  # signed tokens are base64url; compare_digest refuses non-ASCII str
        return None
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        code, _, rest = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    channel, _, campaign = rest.partition(":")
    return (code, channel, campaign) if code and channel in CHANNELS else None
