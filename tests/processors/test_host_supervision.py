"""Issue 10 defect 2: a pipeline task of the embedded host that dies (its log's disk full) is restarted, and
the host reports it down meanwhile (/readyz answers 503 from `problems()`), instead of the pipeline stalling
for good while readiness says 200. The full-disk version with a real tmpfs is in tests/chaos."""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path

from persistence.store import StatusStore
from processors.embedded.host import EmbeddedHost
from processors.embedded.log import SqliteLog
from processors.stages import StageContext
from processors.topology import outbound_for
from settings import Settings
from tests.processors.test_retry_tiers import Recorder, task


class FullDisk(SqliteLog):
    """TEST DOUBLE around the real embedded log: while `full`, every fetch fails as a full disk makes SQLite fail."""

    full = True

    def fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().fetch(*args, **kwargs)


def test_a_task_that_dies_is_reported_and_restarted_and_the_pipeline_moves_again(tmp_path: Path) -> None:
    recorder = Recorder()
    store = StatusStore(f"sqlite:///{tmp_path}/s.db")
    ctx = StageContext(settings=Settings(data_dir=tmp_path, channels=["portal"]), store=store, adapters={"portal": recorder})
    log = FullDisk(tmp_path / "bus.db")
    host = EmbeddedHost(log, ctx)
    seen: dict[str, list[str]] = {}

    async def scenario() -> None:
        runner = asyncio.create_task(host.run())
        deadline = time.monotonic() + 10
        while not host.problems() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        seen["while full"] = host.problems()
        log.send([outbound_for(task(None, "after the disk outage"), "e-1", ctx.clock())])
        await asyncio.sleep(0.3)
        seen["delivered while full"] = list(recorder.delivered)
        log.full = False
        deadline = time.monotonic() + 30
        while (not recorder.delivered or host.problems()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        seen["after"] = host.problems()
        host.stop()
        await runner

    try:
        asyncio.run(scenario())
    finally:
        log.close()
        store.close()
    assert seen["while full"] and all("No space left on device" in p for p in seen["while full"]), seen
    assert seen["delivered while full"] == []
    assert recorder.delivered == ["after the disk outage"]  # restarted, it delivered once
    assert seen["after"] == []  # and readiness is back


class CountingLog(SqliteLog):
    """The real embedded log, counting the host's fetches."""

    fetches = 0

    def fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.fetches += 1
        return super().fetch(*args, **kwargs)


def test_idle_consumers_do_not_poll_and_appends_by_another_process_are_picked_up(tmp_path: Path) -> None:
    """An idle `govcast run` leaves the CPU alone (its forty-odd consumers used to fetch twice a second each), and a
    task another process appends to the log (an extra API process, a CLI) is still delivered within a second."""
    recorder = Recorder()
    store = StatusStore(f"sqlite:///{tmp_path}/s.db")
    ctx = StageContext(settings=Settings(data_dir=tmp_path, channels=["portal"]), store=store, adapters={"portal": recorder})
    log = CountingLog(tmp_path / "bus.db")
    other_process = SqliteLog(tmp_path / "bus.db")  # its appends reach no listener of `log`: only the shared file
    host = EmbeddedHost(log, ctx)
    seen: dict[str, float] = {}

    async def scenario() -> None:
        runner = asyncio.create_task(host.run())
        await asyncio.sleep(1.0)  # every consumer fetched once and is idle now
        before = log.fetches
        await asyncio.sleep(2.0)
        seen["idle fetches"] = log.fetches - before
        seen["consumers"] = sum(len(events) for events in host._wakeups.values())
        sent = time.monotonic()
        await asyncio.to_thread(other_process.send, [outbound_for(task(None, "from another process"), "e-2", ctx.clock())])
        while not recorder.delivered and time.monotonic() < sent + 10:
            await asyncio.sleep(0.02)
        seen["picked up after"] = time.monotonic() - sent
        host.stop()
        await runner

    try:
        asyncio.run(scenario())
    finally:
        other_process.close()
        log.close()
        store.close()
    assert seen["consumers"] > 10
    assert seen["idle fetches"] < seen["consumers"] / 2, seen  # was about four per consumer in 2 s
    assert recorder.delivered == ["from another process"]
    assert seen["picked up after"] < 1.5, seen
