"""The audit trail's hash chain (SQLite and PostgreSQL): appends in one order, edits and deletions named by verify."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, func, select, update

from persistence import audit
from persistence.store import Principal, StatusStore
from persistence.tables import audit_log

OPER = Principal("prn_oper", "operator", "值班员", None, client="10.0.0.5")


def seqs(store: StatusStore) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(audit_log.c.seq)).scalars())


def fill(store: StatusStore, n: int) -> None:
    for i in range(n):
        audit.record_now(store.engine, OPER, "publication.retract", f"pub_{i}", {"reason": f"第{i}条撤回"})


def test_entries_name_the_actor_and_chain_to_each_other(store: StatusStore) -> None:
    fill(store, 3)
    audit.record_now(store.engine, None, "token.create", "prn_new", {"kind": "operator"})
    newest, *older = audit.entries(store.engine, audit.AuditFilter())
    assert newest["actor"]["kind"] == "cli" and newest["actor"]["id"].startswith("cli:") and newest["client"] is None
    assert older[0]["actor"] == {"id": "prn_oper", "name": "值班员", "kind": "operator"} and older[0]["client"] == "10.0.0.5"
    assert older[-1]["detail"] == {"reason": "第0条撤回"}
    verdict = audit.verify(store.engine)
    assert verdict.intact and verdict.entries == 4 and verdict.head == newest["hash"]
    assert [e["target"] for e in audit.entries(store.engine, audit.AuditFilter(action="publication."))] == \
        ["pub_2", "pub_1", "pub_0"]
    assert [e["target"] for e in audit.entries(store.engine, audit.AuditFilter(target="pub_1"))] == ["pub_1"]
    assert audit.entries(store.engine, audit.AuditFilter(actor="prn_nobody")) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert audit.entries(store.engine, audit.AuditFilter(since=later)) == []


def test_an_edited_row_is_named(store: StatusStore) -> None:
    fill(store, 5)
    third = seqs(store)[2]
    with store.transaction() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == third).values(detail='{"reason": "改过的理由"}'))
    verdict = audit.verify(store.engine)
    assert not verdict.intact and len(verdict.problems) == 1
    assert verdict.problems[0].startswith(f"row {third}:") and "edited" in verdict.problems[0]


def test_a_rewritten_row_with_a_fresh_hash_breaks_the_next_link(store: StatusStore) -> None:
    fill(store, 4)
    numbers = seqs(store)
    with store.transaction() as conn:  # an insider edits a row AND recomputes its hash
        conn.execute(update(audit_log).where(audit_log.c.seq == numbers[1]).values(hash="f" * 64))
    problems = audit.verify(store.engine).problems
    assert any(p.startswith(f"row {numbers[1]}:") for p in problems)
    assert any(p.startswith(f"row {numbers[2]}:") and f"after row {numbers[1]}" in p for p in problems)


def test_a_deleted_row_is_named_by_the_link_that_broke(store: StatusStore) -> None:
    fill(store, 5)
    numbers = seqs(store)
    with store.transaction() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == numbers[2]))
    verdict = audit.verify(store.engine)
    assert verdict.problems == [f"row {numbers[3]}: its prev_hash does not match the row before it -- a row after row "
                                f"{numbers[1]} was deleted or that row was rewritten"]


def test_concurrent_appends_keep_one_chain(store: StatusStore) -> None:
    """Several API nodes recording at once: the chain stays one line (PostgreSQL: the append lock)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: audit.record_now(store.engine, OPER, "publication.submit", f"pub_{i}"), range(80)))
    verdict = audit.verify(store.engine)
    assert verdict.intact, verdict.problems
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 80


def test_a_diff_keeps_short_values_and_summarizes_long_ones() -> None:
    changes = audit.diff({"title": "旧标题", "body": "政" * 500, "same": 1}, {"title": "新标题", "body": "策" * 500, "same": 1})
    assert changes["title"] == {"from": "旧标题", "to": "新标题"}
    assert changes["body"]["from"]["chars"] == 500 and changes["body"]["from"]["sha256"] != changes["body"]["to"]["sha256"]
    assert "same" not in changes
