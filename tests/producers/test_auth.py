"""Tokens: shown once, stored hashed, bound to a department's publisher code."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from govcast.samples import DEMO_DEPARTMENT
from persistence.tables import tokens
from producers.auth import authenticate, new_token
from producers.errors import Unauthorized


def test_the_store_keeps_only_the_hash(store):
    secret = new_token(store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
    assert secret.startswith("gct_") and len(secret) > 40
    with store.engine.connect() as conn:
        [row] = conn.execute(select(tokens)).all()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row)
    principal = authenticate(store, secret)
    assert (principal.kind, principal.publisher_code) == ("department", DEMO_DEPARTMENT["publisher_code"])
    assert new_token(store, "operator", "值班员") != secret


@pytest.mark.parametrize(
    ("kind", "code"),
    [("department", None), ("department", "not-a-code"), ("operator", DEMO_DEPARTMENT["publisher_code"]), ("admin", None)],
)
def test_bad_token_requests(store, kind, code):
    with pytest.raises(ValueError):
        new_token(store, kind, "名称", code)
    assert store.count_tokens() == 0


@pytest.mark.parametrize("token", [None, "", "gct_unknown"])
def test_unknown_tokens_are_unauthorized(store, token):
    with pytest.raises(Unauthorized) as caught:
        authenticate(store, token)
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
