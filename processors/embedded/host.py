"""Embedded host: runs the topology table over the SQLite log inside one asyncio process.

One consumer task per (route, partition): per-key order is kept, partitions
and channels progress independently (one channel's outage never blocks
another), and every input is committed only together with its outputs.

An idle consumer sleeps until an append to its partition wakes it: appends in this
process wake the consumers of the partitions they wrote right after their commit;
for appends by other processes (extra API processes nudge too, naming the topic:
all its consumers wake; a nudge can be lost) one watcher reads the log's partition
heads twice a second and wakes the consumers of the partitions that grew. Forty-odd
idle consumers thus cost one small query per poll, not one fetch each.

Every task runs supervised: one that dies (the log cannot be written: disk full)
is restarted with exponential backoff, and until it has fetched again it is
listed by `problems()`, which makes /readyz answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential

from processors.bus import Outbound
from processors.embedded.log import Record, SqliteLog
from processors.outage import log_failure
from processors.stages import StageContext, due_releases
from processors.topology import Route, outbound_for, process, routes
from schemas.events import derived_id

log = logging.getLogger("govcast.embedded")

BATCH_SIZE = 200  # per-recipient push tasks dispatched together
POLL_SECONDS = 0.5  # how often the watcher looks for appends by other processes
IDLE_SECONDS = 30.0  # an idle consumer fetches again at least this often anyway (a wake-up that went missing)
PRUNE_SECONDS = 60.0
# A consumer whose last fetch found records but not a full fetch waits this long before fetching again: under load
# the next fetch then takes what arrived meanwhile (a group commit's worth of submissions, a plan's statuses) in one
# round -- one thread hop, one log commit, one projection transaction -- instead of a round per append. An idle
# consumer fetches at once when woken, so a lone publication waits nothing; a busy one, at most this per hop. When
# something was appended while a round was processed, the round's last commit waits out the linger and fetches the
# next records in the same thread call (`_follow`): one hop per round, not two; the outputs reach the log that much later.
LINGER_SECONDS = 0.005
# A pure route (the plan: its stage only computes, and for a scheduled submission only parks it) lingers longer: each
# of its commits takes the file's write lock between the group-commit writer's batches, and fewer, larger ones leave
# the writer waiting less (measured: −7 to −10 % server CPU per submission at 1 and 16 clients, issue 17). The cost: an
# item appended within 20 ms after a plan round that found records is planned up to 20 ms later (before: 5 ms); an
# item reaching an idle consumer is planned at once, as before.
PURE_LINGER_SECONDS = 0.02
RESTART_MAX_SECONDS = 30.0  # longest wait before restarting a task that died
Follow = Callable[[], Awaitable[int | None]]  # asked before a round's last commit: fetch along, and how many (`_follow`)


async def close_async_resources(ctx: StageContext) -> None:
    """Adapters holding resources bound to this event loop (the push adapter's HTTP session) release them here."""
    for adapter in ctx.adapters.values():
        aclose = getattr(adapter, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


@dataclass
class EmbeddedHost:
    bus: SqliteLog
    ctx: StageContext
    table: list[Route] = field(default_factory=list)
    _wakeups: dict[str, list[tuple[int, asyncio.Event]]] = field(default_factory=lambda: defaultdict(list))  # by topic
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _down: dict[str, str] = field(default_factory=dict)  # task name -> why it died (until it runs again)

    def __post_init__(self) -> None:
        self.table = self.table or routes(self.ctx.settings)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()

        def wake(topic: str, partitions: frozenset[int] | None) -> None:  # called by the committing thread
            loop.call_soon_threadsafe(self._wake, topic, partitions)

        self.bus.add_listener(wake)
        jobs: dict[str, Callable[[], Awaitable[None]]] = {
            f"{route.name}[{topic}:{part}]": functools.partial(self._consume, route, topic, part, f"{route.name}[{topic}:{part}]")
            for route in self.table for topic in route.sources for part in range(self.bus.ensure_topic(topic))
        }
        jobs["watcher"] = self._watch_heads
        jobs["scheduler"] = self._scheduler
        jobs["pruner"] = self._pruner
        tasks = [asyncio.create_task(self._supervise(name, job), name=name) for name, job in jobs.items()]
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_async_resources(self.ctx)

    def stop(self) -> None:
        self._stopping.set()

    def _wake(self, topic: str, partitions: frozenset[int] | None = None) -> None:
        """On the loop: the consumers of `topic` (of `partitions`; None: all) fetch again."""
        for part, ev in self._wakeups.get(topic, ()):
            if partitions is None or part in partitions:
                ev.set()

    async def _watch_heads(self) -> None:
        """Wake the consumers of every partition whose head moved since the last look (appends by other
        processes; this process's own appends woke them already, and a second wake-up costs one empty fetch)."""
        seen: dict[tuple[str, int], int] = {}  # first look: every partition (a consumer may have fetched before an append)
        while not self._stopping.is_set():
            heads = await asyncio.to_thread(self.bus.heads)
            moved: dict[str, set[int]] = defaultdict(set)
            for (topic, part), end in heads.items():
                if seen.get((topic, part)) != end:
                    moved[topic].add(part)
            for topic, parts in moved.items():
                self._wake(topic, frozenset(parts))
            seen = heads
            await self._sleep(POLL_SECONDS)

    def problems(self) -> list[str]:
        """Tasks that died and have not run again yet (readiness)."""
        return [f"{name}: {why}" for name, why in sorted(self._down.items())]

    async def _supervise(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` until the host stops; when it raises, mark it down and restart it with backoff."""

        def died(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self._down[name] = f"{type(exc).__name__}: {exc}"
            log.error("pipeline task %s died (%s); restarting it in %.1f s", name, self._down[name],
                      state.next_action.sleep if state.next_action else 0)

        async for attempt in AsyncRetrying(retry=retry_if_exception_type(Exception), stop=stop_never,
                                           wait=wait_exponential(multiplier=0.5, max=RESTART_MAX_SECONDS),
                                           sleep=self._sleep, before_sleep=died):
            with attempt:
                if not self._stopping.is_set():
                    await job()

    async def _sleep(self, seconds: float, wakeup: asyncio.Event | None = None) -> None:
        waiter = wakeup or self._stopping
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout=max(seconds, 0))

    async def _sleep_unless_stopping(self, seconds: float) -> bool:
        await self._sleep(seconds)
        return not self._stopping.is_set()

    async def _consume(self, route: Route, topic: str, part: int, name: str) -> None:
        wakeup = asyncio.Event()
        self._wakeups[topic].append((part, wakeup))
        try:
            await self._consume_from(route, topic, part, name, wakeup)
        finally:
            self._wakeups[topic].remove((part, wakeup))

    async def _consume_from(self, route: Route, topic: str, part: int, name: str, wakeup: asyncio.Event) -> None:
        """Fetch, process, commit, round after round. `wakeup` is cleared right before each fetch, so it is set again
        by any append of this process (or a move of the heads the watcher saw) that the fetch may have missed: a round
        that fetched less than its limit and finds it unset has nothing new to read and makes no fetch (a thread hop
        and two queries) before sleeping on it."""
        first, linger, quiet = True, False, False
        records: list[Record] | None = None  # what the last round's commit fetched along (None: fetch now)
        while not self._stopping.is_set():
            if not first:
                self._down.pop(name, None)  # a whole round (fetch, process, commit) went through: running again
            first = False
            limit = BATCH_SIZE if route.batch else 50
            pause = PURE_LINGER_SECONDS if route.pure else LINGER_SECONDS
            if records is None:
                if linger:
                    await asyncio.sleep(pause)
                if quiet and not wakeup.is_set():
                    records = []  # the last fetch took everything there was, and nothing was appended since
                else:
                    wakeup.clear()
                    records = await asyncio.to_thread(self.bus.fetch, route.name, topic, part, limit)
            if not records:
                self._down.pop(name, None)  # it fetched: running again (and idle)
                await self._sleep(IDLE_SECONDS, wakeup)
                records, linger, quiet = None, False, False  # a wake-up that went missing: fetch at least this often
                continue
            # busy, and caught up: let the next round gather more (`LINGER_SECONDS`); a full fetch fetches again at once
            full = len(records) >= limit
            linger = quiet = not full
            if route.batch is not None and route.wait_until is None:
                records = await self._process_batches(route, records, functools.partial(self._follow, wakeup, full, limit, pause))
                continue
            if route.pure and route.wait_until is None:
                records = await self._process_together(route, records, functools.partial(self._follow, wakeup, full, limit, pause))
                continue
            for record in records:
                if self._stopping.is_set():
                    return
                await self._process(route, record)
            records = None

    async def _follow(self, wakeup: asyncio.Event, full: bool, limit: int, pause: float) -> int | None:
        """Asked before a round's last commit: fetch the next records in the same thread call (the limit), or not
        (None). Yes after a full fetch (more is there), or when an append since the fetch woke the consumer: then
        it lingers first (`pause`), as it would have before its next fetch, and its commit waits with it.
        Otherwise the commit goes alone, right away, and the consumer sleeps until woken."""
        if not full:
            if not wakeup.is_set():
                return None
            await asyncio.sleep(pause)
        wakeup.clear()  # before the fetch: appends it may miss wake the consumer again
        return limit

    async def _commit(self, route: Route, record: Record, outputs: list[Outbound],
                      follow: Follow | None = None) -> list[Record] | None:
        """Commit `record` and its outputs; with `follow` (the round's last commit), maybe fetch the next records in
        the same thread call (`_follow`): those records, or None when it did not fetch."""
        limit = await follow() if follow is not None else None
        if limit is None:
            await asyncio.to_thread(self.bus.commit, route.name, record, outputs)
            return None
        return await asyncio.to_thread(self.bus.commit_and_fetch, route.name, record, outputs, limit)

    async def _process_batches(self, route: Route, records: list[Record], follow: Follow) -> list[Record] | None:
        """A fetch of a batch route, batch after batch (each within MAX_BATCH_WEIGHT), in order: the rest of the fetch
        is not fetched and decoded again after each batch. A batch that fails goes one by one (`_process`). The last
        batch's commit may fetch the next records (`_commit`)."""
        while records and not self._stopping.is_set():
            batch = route.take_batch(records, lambda record: record.event)
            records = records[len(batch):]
            try:
                outputs = await route.handle_many([r.event for r in batch], self.ctx)
            except Exception as exc:  # the per-record path has the retry and poison-input policy
                log.warning("%s: batch of %d failed (%s); processing one by one", route.name, len(batch), exc)
            else:
                if not records:
                    return await self._commit(route, batch[-1], outputs, follow)
                await self._commit(route, batch[-1], outputs)
                continue
            for record in batch:
                if self._stopping.is_set():
                    return None
                await self._process(route, record)
        return None

    async def _process_together(self, route: Route, records: list[Record], follow: Follow) -> list[Record] | None:
        """A pure route's inputs, their outputs committed together (one write turn and one thread hop per fetch, not
        per input; that commit may fetch the next records, `_commit`). An input whose stage fails has the ones before
        it committed first, then goes alone through `process` (its retries and poison-input policy). A kill before
        the commit redoes them all: nothing was written, and the outputs' ids derive from the inputs'."""
        outputs: list[Outbound] = []
        last: Record | None = None
        for record in records:
            if self._stopping.is_set():
                break
            try:
                outputs += await route.handle(record.event, self.ctx)
                last = record
            except Exception as exc:
                log.debug("%s failed on event %s (%s): committing the inputs before it, then retrying", route.name,
                          record.event.id, exc)
                if last is not None:
                    await self._commit(route, last, outputs)
                    outputs, last = [], None
                await self._process(route, record)
        if last is None:
            return None
        return await self._commit(route, last, outputs, None if self._stopping.is_set() else follow)

    async def _process(self, route: Route, record: Record) -> None:
        if route.wait_until is not None:
            due = route.wait_until(route.decode(record.event))
            while due is not None and not self._stopping.is_set():
                remaining = (due - self.ctx.clock()).total_seconds()
                if remaining <= 0:
                    break
                await self._sleep(min(remaining, 5.0))
            if self._stopping.is_set():
                return
        outputs = await process(route, record.event, record.key, self.ctx, self._sleep_unless_stopping)
        if outputs is None:
            return
        await asyncio.to_thread(self.bus.commit, route.name, record, outputs)

    async def _scheduler(self) -> None:
        """Release scheduled publications when their time comes."""
        tick = 0
        while not self._stopping.is_set():
            try:
                changes = await asyncio.to_thread(due_releases, self.ctx)
                for change in changes:
                    pub = change.publication
                    out = outbound_for(change, derived_id(f"release/{pub.id}/{pub.version}", 0), self.ctx.clock())
                    await asyncio.to_thread(self.bus.send, [out])
                    await asyncio.to_thread(self.ctx.store.mark_released, pub.id, pub.version)
            except Exception as exc:
                log_failure(log, f"scheduler tick {tick}", exc)
            tick += 1
            await self._sleep(self.ctx.settings.scheduler_interval)

    async def _pruner(self) -> None:
        consumers: dict[str, list[str]] = defaultdict(list)
        for route in self.table:
            for topic in route.sources:
                consumers[topic].append(route.name)
        while not self._stopping.is_set():
            await self._sleep(PRUNE_SECONDS)
            try:
                await asyncio.to_thread(self.bus.prune, dict(consumers))
            except Exception:
                log.exception("pruning the embedded log failed")
