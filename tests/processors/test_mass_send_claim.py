"""The day's WeChat mass send is built by one worker at a time (persistence/mass_send.py), on both store backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from persistence.ledger import Ledger
from persistence.mass_send import claim_batch, gathered
from persistence.store import StatusStore


def test_of_workers_claiming_the_days_message_at_once_one_builds_it(store: StatusStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(lambda n: claim_batch(store.engine, "wechat", "mass:2026-12-03", f"dlv_{n}", 1000.0, 120.0),
                            range(12)))
    assert won.count(True) == 1
    holder = f"dlv_{won.index(True)}"
    assert claim_batch(store.engine, "wechat", "mass:2026-12-03", holder, 1010.0, 120.0)  # its own claim again
    assert not claim_batch(store.engine, "wechat", "mass:2026-12-03", "dlv_late", 1100.0, 120.0)
    assert claim_batch(store.engine, "wechat", "mass:2026-12-03", "dlv_late", 1200.0, 120.0)  # the holder died: taken over


def test_the_days_copies_come_in_the_order_they_were_gathered(store: StatusStore) -> None:
    ledger = Ledger(store.engine)
    for name, at, ns in (("dlv_b", 5.0, 2), ("dlv_a", 5.0, 3), ("dlv_c", 1.0, 9)):
        ledger.put("wechat", name, external_ref="mass:2026-12-03", gathered_at=at, gathered_ns=ns)
    ledger.put("wechat", "dlv_other_day", external_ref="mass:2026-12-04", gathered_at=0.0, gathered_ns=0)
    assert [d for d, _ in gathered(store.engine, "wechat", "mass:2026-12-03")] == ["dlv_c", "dlv_b", "dlv_a"]
