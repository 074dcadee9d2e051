"""HMAC-SHA256 request signing, the style of the platform contracts govcast defines (deploy/<platform>/openapi.yaml).

    string_to_sign = METHOD "\\n" PATH_AND_QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" hex(sha256(BODY))
    signature      = hex(HMAC-SHA256(app_secret, string_to_sign))

METHOD upper case; PATH_AND_QUERY exactly as on the request line (percent-encoded, with "?query" when
present); TIMESTAMP Unix seconds; NONCE 16-64 chars of [A-Za-z0-9_-], never reused; BODY the raw bytes
sent (empty for GET). Each platform sends them in four headers of its own prefix (`X-Disclosure-App-Id`,
…). `RequestSigning` signs (adapters); `SignatureGate` checks (sandboxes: app id, clock window, signature,
nonce replay, in that order).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REPLAY_WINDOW_SECONDS = 300


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 chars, 144 random bits


def signature_ok(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, method, path, timestamp, nonce, body), signature.lower())


@dataclass(frozen=True)
class RequestSigning:
    """The four signing headers of one platform: `<prefix>-App-Id`, `-Timestamp`, `-Nonce`, `-Signature`."""

    prefix: str  # e.g. "X-Disclosure"

    @property
    def app_id(self) -> str:
        return f"{self.prefix}-App-Id"

    @property
    def timestamp(self) -> str:
        return f"{self.prefix}-Timestamp"

    @property
    def nonce(self) -> str:
        return f"{self.prefix}-Nonce"

    @property
    def signature(self) -> str:
        return f"{self.prefix}-Signature"

    def headers(self, app_id: str, secret: str, method: str, path: str, body: bytes, now: float) -> dict[str, str]:
        """The headers of one request (a fresh nonce every call: never reuse them for a resend)."""
        timestamp, nonce = str(int(now)), new_nonce()
        return {self.app_id: app_id, self.timestamp: timestamp, self.nonce: nonce,
                self.signature: sign(secret, method, path, timestamp, nonce, body)}


class SignatureGate:
    """A platform's check of a signed request; `refusal` answers (error code, message) or None when it passes."""

    def __init__(self, signing: RequestSigning, app_id: str, secret: str) -> None:
        self.signing, self.app_id, self.secret = signing, app_id, secret
        self.nonces: dict[str, float] = {}
        self.lock = threading.Lock()

    def refusal(self, method: str, target: str, headers: Mapping[str, str], body: bytes, now: float) -> tuple[str, str] | None:
        s = self.signing
        app_id, ts, nonce, sig = (headers.get(h, "") for h in (s.app_id, s.timestamp, s.nonce, s.signature))
        if app_id != self.app_id:
            return "UNKNOWN_APP", f"unknown app id {app_id!r}"
        if not ts.isdigit() or abs(now - int(ts)) > REPLAY_WINDOW_SECONDS:
            return "TIMESTAMP_EXPIRED", f"timestamp {ts!r} is outside the {REPLAY_WINDOW_SECONDS} s window"
        if not NONCE_RE.match(nonce) or not signature_ok(self.secret, method, target, ts, nonce, body, sig):
            return "SIGNATURE_INVALID", "the signature does not match the request"
        with self.lock:
            for old in [n for n, seen in self.nonces.items() if seen < now - REPLAY_WINDOW_SECONDS]:
                del self.nonces[old]
            if nonce in self.nonces:
                return "NONCE_REPLAYED", f"nonce {nonce} was already used"
            self.nonces[nonce] = now
        return None

    def clear(self) -> None:
        with self.lock:
            self.nonces.clear()
