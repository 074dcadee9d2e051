"""The day's mass-send message of an account (adapters/wechat/mass_send.py), kept in the adapters' ledger table.

A gathered copy is its delivery's ledger row with the batch's key as its reference (indexed), so the copies of a
day are one indexed query. The batch itself is a ledger row too (`mass:<day>`); one worker at a time builds and
sends it: `claim_batch` takes the batch for `holder` in one short transaction under the (channel, batch) lock --
PostgreSQL's advisory lock, SQLite's single writer -- and no lock is held while the platform is called. A claim older
than `stale_after` seconds (its worker died) may be taken over: every step of the batch is recorded before the
next one, and the send itself is deduplicated by the platform (clientmsgid), so taking over never sends twice.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, insert, select, update

from persistence.engine import advisory_lock
from persistence.ledger import ledger


def gathered(engine: Engine, channel: str, batch: str) -> list[tuple[str, dict[str, Any]]]:
    """The copies gathered for `batch`, in the order they were gathered."""
    with engine.connect() as conn:
        rows = conn.execute(select(ledger.c.delivery_id, ledger.c.facts).where(
            ledger.c.channel == channel, ledger.c.external_ref == batch)).all()
    found = [(r.delivery_id, dict(json.loads(r.facts))) for r in rows]
    return sorted(found, key=lambda item: (float(item[1].get("gathered_at", 0)), int(item[1].get("gathered_ns", 0)), item[0]))


def claim_batch(engine: Engine, channel: str, batch: str, holder: str, now: float, stale_after: float) -> bool:
    """True when `holder` may build and send `batch` now (it holds the claim, fresh or taken over)."""
    with engine.begin() as conn:
        advisory_lock(conn, "mass-send", channel, batch)
        row = conn.execute(select(ledger.c.facts).where(
            ledger.c.channel == channel, ledger.c.delivery_id == batch)).first()
        facts = dict(json.loads(row.facts)) if row else {}
        if facts.get("holder") not in (None, holder) and now - float(facts.get("claimed_at", 0)) < stale_after:
            return False
        values = {"facts": json.dumps({**facts, "holder": holder, "claimed_at": now}, ensure_ascii=False),
                  "updated_at": dt.datetime.now(dt.UTC)}
        if row is None:
            conn.execute(insert(ledger).values(channel=channel, delivery_id=batch, **values))
        else:
            conn.execute(update(ledger).where(ledger.c.channel == channel, ledger.c.delivery_id == batch).values(**values))
        return True
