"""Daily send slots of the new-media accounts: how many copies each account has posted today, shared by every worker.

A slot is a row of the adapters' ledger table (no table of its own): channel `slots:<channel>`, the delivery id,
and the local day as its reference (indexed). Claiming counts the day's rows and adds one only under the cap, in
one transaction that holds the (channel, day) lock -- PostgreSQL's advisory lock, SQLite's single writer -- so
workers on several hosts never post more than the cap between them. A delivery keeps its slot: a retry or a
check after a crash claims nothing new. A copy that fails for good without being posted gives its slot back
(`release_send_slot`), so the day's cap counts what was posted.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Engine, delete, func, insert, select

from persistence.engine import advisory_lock
from persistence.ledger import ledger


def _lane(channel: str) -> str:
    return f"slots:{channel}"


def claim_send_slot(engine: Engine, channel: str, day: dt.date, delivery_id: str, cap: int) -> bool:
    """True when `delivery_id` holds one of `channel`'s `cap` slots of `day` (now or from before), else False."""
    lane = _lane(channel)
    with engine.begin() as conn:
        advisory_lock(conn, "send-slots", channel, day.isoformat())
        held = conn.execute(select(ledger.c.external_ref).where(
            ledger.c.channel == lane, ledger.c.delivery_id == delivery_id)).first()
        if held is not None:
            return True
        used = conn.execute(select(func.count()).select_from(ledger).where(
            ledger.c.channel == lane, ledger.c.external_ref == day.isoformat())).scalar_one()
        if used >= cap:
            return False
        conn.execute(insert(ledger).values(channel=lane, delivery_id=delivery_id, external_ref=day.isoformat(),
                                           facts=json.dumps({"day": day.isoformat()}), updated_at=dt.datetime.now(dt.UTC)))
        return True


def slots_used(engine: Engine, channel: str, day: dt.date) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger).where(
            ledger.c.channel == _lane(channel), ledger.c.external_ref == day.isoformat())).scalar_one())


def release_send_slot(engine: Engine, channel: str, delivery_id: str) -> bool:
    """Give `delivery_id`'s slot back (whichever day it was claimed on); True when it held one."""
    with engine.begin() as conn:
        gone = conn.execute(delete(ledger).where(ledger.c.channel == _lane(channel), ledger.c.delivery_id == delivery_id))
        return bool(gone.rowcount)
