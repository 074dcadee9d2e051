"""A batch route of the embedded host (the status projection) works through a whole fetch batch after batch: the
rest of a fetch is not fetched and decoded again after each batch, inputs are handled once each and in order, and a
batch that fails goes one by one (retries and poison-input policy), the batches after it still batched."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from processors.bus import Outbound
from processors.embedded.host import EmbeddedHost
from processors.embedded.log import Record, SqliteLog
from processors.stages import StageContext
from processors.topology import MAX_BATCH_WEIGHT, Route
from schemas.events import new_event
from tests.host_support import run_until_drained


class FetchCountingLog(SqliteLog):
    fetches = 0
    decoded = 0

    def fetch(self, group: str, topic: str, partition: int, limit: int = 100) -> list[Record]:
        records = super().fetch(group, topic, partition, limit)
        if group == "batched":
            self.fetches += 1
            self.decoded += len(records)
        return records


def test_a_batch_route_works_through_one_fetch_in_batches(tmp_path: Path, host_ctx: StageContext) -> None:
    log = FetchCountingLog(tmp_path / "bus.db", default_partitions=1)
    seen: list[int] = []
    batches: list[list[int]] = []
    failures = {13: 1}  # the batch holding input 13 fails once: it goes one by one

    async def one(n: int, _ctx: StageContext) -> list[BaseModel]:
        seen.append(n)
        return []

    async def many(ns: list[int], _ctx: StageContext) -> list[list[BaseModel]]:
        if any(failures.get(n) for n in ns):
            for n in ns:
                failures.pop(n, None)
            raise ConnectionError("the store did not answer")
        batches.append(ns)
        seen.extend(ns)
        return [[] for _ in ns]

    route = Route("batched", ("in",), lambda event: event.data["n"], one, batch=many,
                  weigh=lambda event: MAX_BATCH_WEIGHT // 10)  # ten inputs per batch
    host = EmbeddedHost(log, host_ctx, table=[route])
    log.send([Outbound("in", "k", new_event("test.in", "/t", "k", {"n": n})) for n in range(45)])

    run_until_drained(host, log, "batched", "in")
    lag = log.lag("batched", "in")
    log.close()
    assert lag == 0
    assert seen == list(range(45))  # each once, in order
    assert batches == [list(range(0, 10)), list(range(20, 30)), list(range(30, 40)), list(range(40, 45))]
    assert log.decoded == 45  # one fetch decoded them all (not 45 + 35 + 25 + ...)


def test_a_busy_consumer_gathers_a_trickle_of_appends_into_few_rounds(tmp_path: Path, host_ctx: StageContext) -> None:
    """Appends arriving one at a time while a consumer works: it lingers briefly after a round that found records
    (host.LINGER_SECONDS; a pure route such as this one, host.PURE_LINGER_SECONDS), so one fetch takes several of
    them; every input still goes through once, in order."""
    log = FetchCountingLog(tmp_path / "bus.db", default_partitions=1)
    seen: list[int] = []

    async def one(n: int, _ctx: StageContext) -> list[BaseModel]:
        seen.append(n)
        return []

    route = Route("batched", ("in",), lambda event: event.data["n"], one, pure=True)
    host = EmbeddedHost(log, host_ctx, table=[route])
    count = 100

    async def trickle() -> None:
        for n in range(count):  # one append per millisecond or so, each waking the consumer
            await asyncio.to_thread(log.send, [Outbound("in", "k", new_event("test.in", "/t", "k", {"n": n}))])
            await asyncio.sleep(0.001)

    run_until_drained(host, log, "batched", "in", feed=trickle)
    log.close()
    assert seen == list(range(count))
    # Without the linger each append costs a round and an empty fetch (about 2 x count); a loaded machine stretches
    # the trickle's 1 ms sleeps past the linger now and then, so the bound leaves room for that.
    # 5 ms linger: about 35 fetches here; 20 ms for a pure route: about 11
    assert log.fetches < count // 4  # not a round (and an empty fetch) per append
