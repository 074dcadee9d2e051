"""The embedded host's rounds cost few thread calls: a round's last commit fetches the next records in the same call
when more is known to wait (a full fetch), and a consumer whose fetch took everything and that nothing woke since
sleeps without fetching again (no empty fetch: a thread hop and a query)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from processors.bus import Outbound
from processors.embedded import host as host_module
from processors.embedded.host import LINGER_SECONDS, EmbeddedHost
from processors.embedded.log import Record, SqliteLog
from processors.stages import StageContext
from processors.topology import Route
from schemas.events import new_event


class CallCountingLog(SqliteLog):
    """The real embedded log, counting the host's thread calls by kind."""

    fetches = 0  # fetches, also those made by commit_and_fetch
    commits = 0  # commits, also those made by commit_and_fetch
    combined = 0  # commit_and_fetch calls

    def fetch(self, group: str, topic: str, partition: int, limit: int = 100) -> list[Record]:
        self.fetches += 1
        return super().fetch(group, topic, partition, limit)

    def commit(self, group: str, record: Record, outputs: list[Outbound]) -> None:
        self.commits += 1
        super().commit(group, record, outputs)

    def commit_and_fetch(self, group: str, record: Record, outputs: list[Outbound], limit: int) -> list[Record]:
        self.combined += 1
        return super().commit_and_fetch(group, record, outputs, limit)


def run(tmp_path: Path, ctx: StageContext, count: int,
        monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[int, int, int], list[int]]:
    """`count` inputs appended at once to an idle host; the host runs until they are consumed and a while longer.
    The thread calls it made for them: (fetches, commits, commit_and_fetch calls)."""
    monkeypatch.setattr(host_module, "POLL_SECONDS", 60.0)  # the heads watcher looks once, at the start
    log = CallCountingLog(tmp_path / "bus.db", default_partitions=1)
    seen: list[int] = []

    async def note(n: int, _ctx: StageContext) -> list[BaseModel]:
        seen.append(n)
        return []

    host = EmbeddedHost(log, ctx, table=[Route("note", ("in",), lambda event: event.data["n"], note, pure=True)])
    before: list[int] = []

    async def scenario() -> None:
        runner = asyncio.create_task(host.run())
        await asyncio.sleep(0.5)  # started: fetched (once more for the watcher's first look), idle
        before.extend((log.fetches, log.commits, log.combined))
        await asyncio.to_thread(log.send, [Outbound("in", "k", new_event("test.in", "/t", "k", {"n": n}))
                                           for n in range(count)])
        deadline = time.monotonic() + 20
        while log.lag("note", "in") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(20 * LINGER_SECONDS)  # time for any further round to happen
        host.stop()
        await runner

    asyncio.run(scenario())
    log.close()
    return (log.fetches - before[0], log.commits - before[1], log.combined - before[2]), seen


def test_a_consumer_that_took_everything_and_was_not_woken_fetches_no_more(tmp_path: Path, host_ctx: StageContext,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls, seen = run(tmp_path, host_ctx, 3, monkeypatch)
    assert seen == [0, 1, 2]
    assert calls == (1, 1, 0)  # woken: one fetch, one commit; no empty fetch after it


def test_after_a_full_fetch_the_commit_fetches_the_next_records_in_the_same_call(tmp_path: Path, host_ctx: StageContext,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls, seen = run(tmp_path, host_ctx, 120, monkeypatch)  # fetches of 50: 50, 50, 20
    assert seen == list(range(120))  # each once, in order
    # the first fetch alone, then two commits that fetch along; the last commit (20 < 50, nothing new) goes alone
    assert calls == (3, 3, 2)
