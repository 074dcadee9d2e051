"""Request signing of the disclosure platform contract (deploy/disclosure/openapi.yaml): the shared HMAC-SHA256
scheme (adapters/common/signing.py) under the `X-Disclosure-*` headers."""

from __future__ import annotations

from adapters.common.signing import (
    NONCE_RE,
    REPLAY_WINDOW_SECONDS,
    RequestSigning,
    new_nonce,
    sign,
    signature_ok,
    string_to_sign,
)

SIGNING = RequestSigning("X-Disclosure")
APP_ID, TIMESTAMP, NONCE, SIGNATURE = SIGNING.app_id, SIGNING.timestamp, SIGNING.nonce, SIGNING.signature
signed_headers = SIGNING.headers

__all__ = ["APP_ID", "NONCE", "NONCE_RE", "REPLAY_WINDOW_SECONDS", "SIGNATURE", "SIGNING", "TIMESTAMP", "new_nonce", "sign",
           "signature_ok", "signed_headers", "string_to_sign"]
