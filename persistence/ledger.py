"""The adapters' ledger: durable facts recorded around external calls, per delivery id.

An adapter writes what it is about to do and what the platform answered
(media ids, publish ids, message ids) so that a retry after a crash or a
timeout reconciles instead of repeating an irreversible call, and so that
platform callbacks (which name the platform's id, not ours) find their
delivery. It lives in the status store's database, shared by every worker.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)

from persistence.migrate import ensure_schema
from persistence.tables import metadata

ledger = Table(
    "adapter_ledger",
    metadata,
    Column("channel", String(30), primary_key=True),
    Column("delivery_id", String(64), primary_key=True),
    Column("external_ref", String(200)),  # the platform's id for this delivery (publish_id, BizId, msgid)
    Column("facts", Text, nullable=False),  # JSON object, merged on every put
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_ledger_external_ref", "channel", "external_ref"),
)


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(engine)

    def get(self, channel: str, delivery_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ledger.c.facts).where(ledger.c.channel == channel, ledger.c.delivery_id == delivery_id)
            ).first()
        return dict(json.loads(row.facts)) if row else {}

    def put(self, channel: str, delivery_id: str, *, external_ref: str | None = None, **facts: Any) -> dict[str, Any]:
        """Merge `facts` into the delivery's record (and set its platform id); returns the merged record."""
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(ledger.c.facts, ledger.c.external_ref)
                .where(ledger.c.channel == channel, ledger.c.delivery_id == delivery_id)
                .with_for_update()
            ).first()
            merged = {**(json.loads(row.facts) if row else {}), **facts}
            values = {"facts": json.dumps(merged, ensure_ascii=False, default=str), "updated_at": now}
            if external_ref is not None:
                values["external_ref"] = external_ref
            if row is None:
                conn.execute(insert(ledger).values(channel=channel, delivery_id=delivery_id, **values))
            else:
                conn.execute(update(ledger).where(
                    ledger.c.channel == channel, ledger.c.delivery_id == delivery_id).values(**values))
        return merged

    def get_many(self, channel: str, delivery_ids: list[str]) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ledger.c.delivery_id, ledger.c.facts).where(
                ledger.c.channel == channel, ledger.c.delivery_id.in_(delivery_ids))).all()
        return {d: dict(json.loads(f)) for d, f in rows}

    def put_many(self, channel: str, changes: dict[str, tuple[dict[str, Any], str | None]]) -> None:
        """`put` for many deliveries in one transaction: delivery id -> (facts to merge, external ref or None)."""
        if not changes:
            return
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            olds = dict(conn.execute(select(ledger.c.delivery_id, ledger.c.facts).where(
                ledger.c.channel == channel, ledger.c.delivery_id.in_(list(changes))).with_for_update()).all())
            inserts, rewrites = [], []
            for delivery_id, (facts, ref) in changes.items():
                merged = {**(json.loads(olds[delivery_id]) if delivery_id in olds else {}), **facts}
                values: dict[str, Any] = {"facts": json.dumps(merged, ensure_ascii=False, default=str), "updated_at": now}
                if delivery_id in olds:
                    rewrites.append({"b_id": delivery_id, "b_ref": ref, "b_facts": values["facts"], "b_at": now})
                else:
                    inserts.append({"channel": channel, "delivery_id": delivery_id, "external_ref": ref, **values})
            if inserts:
                conn.execute(insert(ledger), inserts)
            if rewrites:
                conn.execute(update(ledger).where(ledger.c.channel == channel, ledger.c.delivery_id == bindparam("b_id"))
                             .values(facts=bindparam("b_facts"), updated_at=bindparam("b_at"),
                                     external_ref=func.coalesce(bindparam("b_ref"), ledger.c.external_ref)),
                             rewrites)

    def by_external_ref(self, channel: str, external_ref: str) -> tuple[str, dict[str, Any]] | None:
        """The delivery a platform callback is about (callbacks name the platform's id)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ledger.c.delivery_id, ledger.c.facts)
                .where(ledger.c.channel == channel, ledger.c.external_ref == external_ref)
            ).first()
        return (row.delivery_id, dict(json.loads(row.facts))) if row else None
