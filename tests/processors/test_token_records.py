"""Token records in the store (SQLite and PostgreSQL): expiry, listing, revocation -- looked up on every call."""

from __future__ import annotations

import datetime as dt

from persistence.store import Principal, StatusStore

NOW = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
DEPT = Principal("prn_dept", "department", "市政府办公厅", "11370100004188591X")
OPER = Principal("prn_oper", "operator", "值班员", None)


def test_an_expiring_token_works_until_its_expiry_and_not_a_moment_after(store: StatusStore) -> None:
    store.add_token(DEPT, "a" * 64, expires_at=NOW + dt.timedelta(hours=1))
    assert store.principal_for("a" * 64, NOW) == DEPT
    assert store.principal_for("a" * 64, NOW + dt.timedelta(minutes=59)) == DEPT
    assert store.principal_for("a" * 64, NOW + dt.timedelta(hours=1)) is None
    [record] = store.list_tokens()
    assert record.expires_at == NOW + dt.timedelta(hours=1)
    assert (record.state(NOW), record.state(NOW + dt.timedelta(hours=2))) == ("active", "expired")


def test_revocation_is_seen_by_another_store_object_at_once(store: StatusStore) -> None:
    other_node = StatusStore(store.url)  # a second API process on the same database
    try:
        store.add_token(OPER, "b" * 64)
        assert other_node.principal_for("b" * 64) == OPER
        revoked = store.revoke_token(OPER.id)
        assert revoked is not None and revoked.revoked_at is not None
        assert other_node.principal_for("b" * 64) is None
        again = store.revoke_token(OPER.id)  # idempotent: the first revocation time stays
        assert again is not None and again.revoked_at == revoked.revoked_at
        assert store.revoke_token("prn_nobody") is None
    finally:
        other_node.close()


def test_listing_shows_every_token_newest_first_and_never_a_hash(store: StatusStore) -> None:
    store.add_token(DEPT, "c" * 64)
    store.add_token(OPER, "d" * 64)
    store.revoke_token(DEPT.id)
    records = store.list_tokens()
    assert [r.id for r in records] == [OPER.id, DEPT.id]
    assert [r.state(dt.datetime.now(dt.UTC)) for r in records] == ["active", "revoked"]
    assert all("c" * 64 not in str(r.public(NOW)) for r in records)
    assert [r.id for r in store.list_tokens(include_revoked=False)] == [OPER.id]
    assert store.token_kinds_of_code(DEPT.publisher_code or "") == set()  # revoked: no longer holds the code
