"""Bearer tokens: departments publish with theirs, operators oversee with theirs.

A token is shown once, when created; the store keeps only its SHA-256, and a
request's principal is found by hashing the presented token. Tokens never go
into logs or error messages.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from processors.status.store import Principal, StatusStore
from producers.errors import Unauthorized
from schemas.vocab import PUBLISHER_CODE_RE, credit_code_checksum_ok

TOKEN_PREFIX = "gct_"
PrincipalKind = Literal["department", "operator", "business"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(store: StatusStore, kind: PrincipalKind, name: str, publisher_code: str | None = None) -> str:
    """Create a principal with a fresh token; returns the secret (the only time it exists in clear)."""
    if kind not in ("department", "operator", "business"):
        raise ValueError(f"kind must be 'department', 'operator' or 'business', not {kind!r}")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("name must be 1 to 100 characters")
    if kind == "department":
        if not publisher_code or not PUBLISHER_CODE_RE.match(publisher_code):
            raise ValueError(
                "a department token needs a publisher code (18-char unified social credit code or 9-char organization code)"
            )
    elif kind == "business":  # a business manages only its own push subscription, named by its credit code
        if not publisher_code or not credit_code_checksum_ok(publisher_code):
            raise ValueError("a business token needs the business's unified social credit code (GB 32100)")
    elif publisher_code:
        raise ValueError("operator tokens act for every department and take no publisher code")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    principal = Principal(id="prn_" + secrets.token_hex(8), kind=kind, name=name, publisher_code=publisher_code)
    store.add_token(principal, hash_token(token))
    return token


def actor_of(principal: Principal) -> str:
    """How a person's action is signed on a publication's timeline."""
    return f"{principal.name} ({'操作员' if principal.kind == 'operator' else '部门'})"


def authenticate(store: StatusStore, token: str | None) -> Principal:
    """The principal a bearer token belongs to; Unauthorized when missing, unknown or revoked."""
    if not token:
        raise Unauthorized("send `Authorization: Bearer <token>`; ask an operator for a token (`govcast token create`)")
    principal = store.principal_for(hash_token(token))
    if principal is None:
        raise Unauthorized("the bearer token is not valid (unknown or revoked)")
    return principal
