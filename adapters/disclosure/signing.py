"""Request signing of the disclosure platform contract (deploy/disclosure/openapi.yaml).

    string_to_sign = METHOD "\\n" PATH_AND_QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" hex(sha256(BODY))
    signature      = hex(HMAC-SHA256(app_secret, string_to_sign))

METHOD upper case; PATH_AND_QUERY exactly as on the request line (percent-encoded, with
"?query" when present); TIMESTAMP Unix seconds; NONCE 16-64 chars of [A-Za-z0-9_-], never
reused; BODY the raw bytes sent (empty for GET). Sent in the headers below. Pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

APP_ID = "X-Disclosure-App-Id"
TIMESTAMP = "X-Disclosure-Timestamp"
NONCE = "X-Disclosure-Nonce"
SIGNATURE = "X-Disclosure-Signature"
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REPLAY_WINDOW_SECONDS = 300


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 chars, 144 random bits


def signed_headers(app_id: str, secret: str, method: str, path: str, body: bytes, now: float) -> dict[str, str]:
    """The four signing headers of one request (a fresh nonce every call: never reuse them for a resend)."""
    timestamp, nonce = str(int(now)), new_nonce()
    return {APP_ID: app_id, TIMESTAMP: timestamp, NONCE: nonce, SIGNATURE: sign(secret, method, path, timestamp, nonce, body)}


def signature_ok(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, method, path, timestamp, nonce, body), signature.lower())
