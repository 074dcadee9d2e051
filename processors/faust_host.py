"""Kafka host: runs the topology table as faust-streaming agents, one agent per Route.

It does on Kafka what processors.embedded.host does on the SQLite log, with the
same guarantees (at-least-once, per-key order, one channel never blocks another):

* Offsets advance only after effects and outputs are durable. Agent streams are
  `noack()`: faust's default acks an event as soon as the `async for` body
  returns -- even when it raised, the ack sits in the stream generator's
  `finally`. Here an event is acked (`Stream.ack` -> `Consumer.ack`, which makes
  its offset committable) only after `route.handle` returned and every output's
  produce future resolved, i.e. the broker acknowledged it with acks=all. faust
  then commits the highest *contiguous* acked offset per partition (commit
  timer, rebalance, stop), after flushing its producer.
* faust tolerates a gap of exactly one offset when it computes what to commit
  (for transaction markers), so acks must come in offset order within a
  partition. Each partition therefore has one lane -- a task that handles its
  events strictly in order -- and partitions progress independently, like the
  embedded host's consumer task per (route, partition). An exclusive route (the
  status projection: one store transaction at a time) has one lane for all its
  partitions instead, so each batch takes what every partition brought meanwhile.
* A lane works through what is queued in it as a run (`_lane_run`): outputs go to
  the producer as each stage returns, the broker's acks are awaited once per run,
  then the run's inputs are acked in order. One ack wait per event kept a lane
  from keeping up with a backlog (issue 16; docs/benchmarks.md).
* A delivery route marked `projects` (topology.Route) keeps its status events out of Kafka: the lane
  applies a run's status events to the store (`_project`; the lanes' events share one transaction per
  batch: processors.lane_projection) while the broker acks the run's other outputs, and acks the inputs
  only after both. The projection is idempotent by event id, so a replay changes nothing; an outage of the store is
  waited out; a store that refuses them otherwise gets them through the status topic (same event ids),
  whose agent has the poison policy. Every status of one (publication, channel) such a route makes comes
  through one lane, in order (two Kafka messages fewer per publication, docs/benchmarks.md).
* An event that is not acked (stop, rebalance, stale generation) is released:
  dropped from faust's unacked set so a rebalance does not wait for it. faust
  seeks every assigned partition back to its committed offset after each
  rebalance, so whoever owns the partition next reads it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import faust
from faust.types import TP, EventT, StreamT

from processors.bus import Outbound
from processors.embedded.host import BATCH_SIZE, close_async_resources
from processors.faust_support import describe_assignment, parked, prepare, quiet_client_logs
from processors.kafka_bus import HEADERS, bootstrap_servers
from processors.lane_projection import LaneProjector
from processors.outage import is_outage, log_failure
from processors.stages import StageContext, due_releases
from processors.topology import MAX_BATCH_WEIGHT, LocalStatuses, Route, all_topics, outbound_for, process, routes
from schemas.events import CloudEvent, Topics, derived_id

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("govcast.faust")

GROUP_ID = "govcast"
LANE_DEPTH = 32  # events buffered per partition before the agent waits for that partition
RUN_SIZE = LANE_DEPTH  # events of one lane whose acks are waited for together
RUN_SECONDS = 0.5  # a run takes no further event after this long (its inputs' commit waits for the run)
SHUTDOWN_GRACE = 10.0  # seconds in-flight handling may take to finish (and be acked) on stop
CHECK_SECONDS = 1.0  # how often long waits look at stop / rebalance
RESTART_MAX_SECONDS = 30.0
# aiokafka's default batch (16 KiB) holds four 3.7 KB publications; a lane run's outputs for one partition fill many.
PRODUCER_BATCH_BYTES = 256 * 1024


@dataclass
class _Lane:
    queue: asyncio.Queue[EventT]
    task: asyncio.Task[None]


class HostedRuntime(Protocol):
    """What the host needs of a process's wiring (govcast.runtime.Runtime is one): its settings and stage context."""

    @property
    def settings(self) -> Settings: ...

    def context(self) -> StageContext: ...


@dataclass
class FaustHost:
    """The processors of one process on Kafka; `await run()` until `stop()`. The faust App is created in run()."""

    runtime: HostedRuntime
    group_id: str = GROUP_ID
    table: list[Route] = field(default_factory=list)
    shutdown_grace: float = SHUTDOWN_GRACE
    backoff_cap: float = 30.0  # longest pause between attempts of a failing stage or send
    app: faust.App | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _inflight: int = 0
    _lanes: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.settings: Settings = self.runtime.settings
        if not self.settings.broker:
            raise ValueError("FaustHost needs settings.broker (kafka://HOST:PORT)")
        self.servers = bootstrap_servers(self.settings.broker)
        self.ctx: StageContext = self.runtime.context()
        self.table = self.table or routes(self.settings)
        self._projector = LaneProjector(lambda updates: self.ctx.store.apply_status_many(updates))

    @property
    def topics(self) -> list[str]:
        return sorted(set(all_topics(self.settings)) | {t for r in self.table for t in r.sources})

    def stop(self) -> None:
        self._stopping.set()

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Run the agents until stop(); a crashed app (broker gone at start, fatal producer error) is rebuilt."""
        quiet_client_logs()
        delay = 1.0
        while not self._stopping.is_set():
            try:
                await self._run_app()
                delay = 1.0
            except Exception as exc:
                log.error("Kafka pipeline stopped: %s: %s; restarting in %.0f s", type(exc).__name__, exc, delay)
            if self._stopping.is_set():
                break
            await self._sleep(delay)
            delay = min(delay * 2, RESTART_MAX_SECONDS)
        await close_async_resources(self.ctx)

    async def _run_app(self) -> None:
        creating = asyncio.ensure_future(asyncio.to_thread(prepare, self.servers, self.topics, self.settings.partitions))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({creating, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if self._stopping.is_set():
            creating.add_done_callback(lambda f: f.cancelled() or f.exception())  # the thread ends on its own timeout
            return
        creating.result()
        app = self.app = self._build_app()
        # App.start() returns only after the first partition assignment; stop() and crashes must not wait for it.
        starter = asyncio.create_task(app.start(), name="faust-start")
        ready = False
        try:
            while not self._stopping.is_set() and not app.crashed:
                if starter.done() and not ready:
                    if (exc := starter.exception()) is not None:
                        raise exc
                    ready = True
                    log.info("Kafka pipeline ready: group %s, %d routes, %d partitions assigned here",
                             self.group_id, len(self.table), len(app.consumer.assignment()))
                await self._sleep(CHECK_SECONDS if ready else 0.1)
            if app.crashed and not self._stopping.is_set():
                raise RuntimeError(f"faust app crashed: {app.crash_reason!r}")
        finally:
            await self._drain()
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starter
            try:
                await asyncio.wait_for(app.stop(), timeout=30)
            except Exception:
                log.exception("stopping the faust app failed")
            self.app = None

    async def _drain(self) -> None:
        """Let handling in progress finish (outputs sent, input acked), then give up the rest.

        faust's App.stop() waits until every message a stream has taken is acked (Consumer.wait_empty),
        so events we will not ack must be released first, or the stop would wait forever.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_grace
        while self._inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self._inflight:
            log.warning("stopping with %d event(s) still in progress; they are not acked and will be read again",
                        self._inflight)
        lanes = list(self._lanes)
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        await self._projector.stop()
        if self.app is not None:
            # Everything still unacked now is given up, not lost: its offset is not committed.
            self.app.consumer.unacked.clear()

    def _build_app(self) -> faust.App:
        settings = self.settings
        app = faust.App(
            self.group_id,
            broker=[f"kafka://{server}" for server in self.servers],
            datadir=str(settings.data_dir / "faust"),  # faust's default "<id>-data" would land in the cwd
            store="memory://",
            web_enabled=False,
            autodiscover=False,
            processing_guarantee="at_least_once",
            producer_acks=-1,  # acks=all
            producer_request_timeout=30.0,  # a failed send surfaces (and is retried here) instead of hanging 20 min
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            topic_replication_factor=1,  # faust's own leader-election topic
            topic_partitions=settings.partitions,
            key_serializer="raw",
            value_serializer="raw",
            broker_commit_interval=1.0,
        )
        for route in self.table:
            topic = app.topic(*route.sources, key_serializer="raw", value_serializer="raw")
            app.agent(topic, name=f"govcast.{route.name}", concurrency=1)(self._agent_fun(route))
        # Release due scheduled publications. Idempotent (stable event ids, mark_released after the send),
        # so a second leader during a rebalance does no harm; on_leader keeps N workers from all polling.
        app.timer(settings.scheduler_interval, on_leader=True, name="govcast.scheduler")(self._release_due)
        on_assigned: Any = self._assigned  # mode's handler type is stricter than the signal's actual call
        app.on_partitions_assigned.connect(on_assigned)
        return app

    async def _assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """After each rebalance: which partitions this worker holds now, so operators (and tests) see the split.

        faust's on_partitions_assigned signal calls this with (app, assigned, signal=...).
        """
        assigned: set[TP] = set(args[0]) if args else set()
        log.info("partitions assigned here (%d): %s", len(assigned), describe_assignment(assigned))

    # ---------------------------------------------------------------- consuming

    def _agent_fun(self, route: Route) -> Any:
        async def agent(stream: StreamT) -> None:
            manual: StreamT = stream.noack()  # type: ignore[attr-defined]  # Stream has it, StreamT does not declare it
            lanes: dict[TP | None, _Lane] = {}
            try:
                async for event in manual.events():
                    tp = event.message.tp
                    # An exclusive route (the projection) gets one lane for all its partitions: it applies one batch
                    # at a time anyway, and one queue makes each batch take whatever every partition brought meanwhile.
                    # Arrival order keeps each partition's events (and acks) in offset order.
                    key = None if route.exclusive else tp
                    lane = lanes.get(key)
                    if lane is None or lane.task.done():
                        queue: asyncio.Queue[EventT] = asyncio.Queue(BATCH_SIZE if route.batch else LANE_DEPTH)
                        where = "all partitions" if key is None else f"{tp.topic}:{tp.partition}"
                        task = asyncio.create_task(self._lane(route, manual, queue), name=f"{route.name}[{where}]")
                        self._lanes.add(task)
                        task.add_done_callback(self._lanes.discard)
                        lane = lanes[key] = _Lane(queue, task)
                    await lane.queue.put(event)
            finally:
                for lane in lanes.values():
                    lane.task.cancel()
                await asyncio.gather(*(lane.task for lane in lanes.values()), return_exceptions=True)

        agent.__name__ = agent.__qualname__ = f"govcast_{route.name.replace('-', '_')}"
        return agent

    def _current(self, event: EventT, *, starting: bool) -> bool:
        """May this event still be handled (starting) or acked? Not when stopping, rebalancing or reassigned."""
        app = self.app
        if app is None or event.message.generation_id != app.consumer_generation_id:
            return False
        # During a rebalance faust suspends flow control and clears its own queues; we clear ours (events not
        # started yet). An event already being handled is finished and acked: faust waits for it (wait_empty).
        return not starting or (not self._stopping.is_set() and app.flow_control.is_active())

    def _release(self, event: EventT) -> None:
        if self.app is not None:
            self.app.consumer.unacked.discard(event.message)

    async def _lane(self, route: Route, stream: StreamT, queue: asyncio.Queue[EventT]) -> None:
        while True:
            event = await queue.get()
            if not self._current(event, starting=True):
                self._release(event)
            elif route.wait_until is not None:  # retry topics: one at a time, each waits for its due time
                self._inflight += 1
                try:
                    done = await self._process(route, event)
                    if done and self._current(event, starting=False):
                        await stream.ack(event)
                    else:
                        self._release(event)
                finally:
                    self._inflight -= 1
            elif route.batch is None:
                await self._lane_run(route, stream, queue, event)
            else:
                await self._lane_batch(route, stream, queue, event)

    async def _lane_run(self, route: Route, stream: StreamT, queue: asyncio.Queue[EventT], first: EventT) -> None:
        """Events queued in this partition's lane, one by one through the stage; one wait for all their acks.

        Each event's outputs are handed to the producer as soon as the stage returns them (so a slow
        channel's first results go out at once), but the lane does not wait for the broker's ack before it
        takes the next event: it waits once, for the whole run, and only then acks the inputs, in order.
        That keeps a lane up with a backlog, and the producer batches the run's outputs into few requests.
        A run takes no further event after RUN_SECONDS or RUN_SIZE events, so acks are not held long.
        If the broker refuses any output, all of the run's outputs are sent again with the retrying send
        (a repeat is harmless: output event ids derive from the input's), and nothing is acked before.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_SECONDS
        outputs: list[Outbound] = []
        local: list[LocalStatuses] = []  # status events this lane projects itself (Route.projects)
        acks: list[asyncio.Future[Any]] = []
        handed = True  # every output so far is with the producer
        handled: list[EventT] = []
        fevent: EventT | None = first
        taken = 1
        self._inflight += 1
        try:
            while fevent is not None:
                made = await self._outputs_local(route, fevent) if self._current(fevent, starting=True) else None
                if made is None:  # stopping, or the partition moved: this event stays uncommitted, and so does the rest
                    self._release(fevent)
                    break
                out, statuses = made
                local += statuses
                outputs += out
                handled.append(fevent)
                if handed and out:
                    try:
                        acks += await self._hand_over(out)
                    except Exception:  # the retrying send below reports it and takes over
                        handed = False
                fevent = None
                if taken < RUN_SIZE and loop.time() < deadline and not queue.empty():
                    fevent = queue.get_nowait()
                    taken += 1
                    self._inflight += 1
            # The run's status events go to the store (one transaction) while the broker acknowledges its outputs.
            projecting = asyncio.ensure_future(self._project(route, local, first)) if local else None
            try:
                failed = [r for r in await asyncio.gather(*acks, return_exceptions=True) if isinstance(r, BaseException)]
                if failed:
                    log.warning("Kafka did not acknowledge %d of %d output(s) (%s: %s); sending the run's outputs again",
                                len(failed), len(acks), type(failed[0]).__name__, failed[0])
                sent = handed and not failed
                if not sent:
                    sent = await self._send(outputs, first)
                projected = await projecting if projecting is not None else True
            finally:
                if projecting is not None and not projecting.done():
                    projecting.cancel()
            if projected is False:  # the store refused them: the status topic's projection agent takes them
                sent = sent and await self._send([group.outbound() for group in local], first)
            sent = sent and projected is not None
            for done in handled:
                if sent and self._current(done, starting=False):
                    await stream.ack(done)
                else:
                    self._release(done)
        finally:
            self._inflight -= taken

    async def _lane_batch(self, route: Route, stream: StreamT, queue: asyncio.Queue[EventT], first: EventT) -> None:
        """What is queued in this partition's lane, through the route's batch stage; acked in order.

        A batch that fails (or holds an unreadable message) is handled one by one, with the
        per-event retry and poison policy.
        """
        def parse(fevent: EventT) -> CloudEvent | None:
            try:
                return CloudEvent.from_json(fevent.message.value or b"")
            except Exception:  # unreadable: the one-by-one path parks it
                return None

        batch, events = [first], [parse(first)]
        weight = route.weigh(events[0]) if events[0] is not None else 1
        while len(batch) < BATCH_SIZE and weight < MAX_BATCH_WEIGHT and not queue.empty():
            batch.append(queue.get_nowait())
            events.append(parse(batch[-1]))
            weight += route.weigh(events[-1]) if events[-1] is not None else 1
        self._inflight += len(batch)
        try:
            outputs: list[Outbound] | None = None
            if all(e is not None for e in events):
                try:
                    outputs = await route.handle_many([e for e in events if e is not None], self.ctx)
                except Exception as exc:
                    log.warning("%s: batch of %d failed (%s); processing one by one", route.name, len(batch), exc)
            if outputs is not None and await self._send(outputs, first):
                for fevent in batch:
                    if self._current(fevent, starting=False):
                        await stream.ack(fevent)
                    else:
                        self._release(fevent)
                return
            for fevent in batch:
                if not self._current(fevent, starting=True):
                    self._release(fevent)
                elif await self._process(route, fevent) and self._current(fevent, starting=False):
                    await stream.ack(fevent)
                else:
                    self._release(fevent)
        finally:
            self._inflight -= len(batch)

    async def _project(self, route: Route, local: list[LocalStatuses], fevent: EventT) -> bool | None:
        """Apply a lane run's status events to the store, in one transaction (Route.projects).

        True when they are in the store; False when the store refused them for a reason other than an
        outage (they are then sent to the status topic, whose projection agent has the poison policy);
        None when the host is stopping or the partition moved while the store was out (not acked).
        Idempotent by event id, so a replay after a crash between this and the ack changes nothing.
        """
        updates = [status for group in local for status in group.statuses]
        attempt = 0
        while True:
            try:
                await self._projector.apply(updates)
                return True
            except Exception as exc:
                attempt += 1
                if not is_outage(exc):
                    log.warning("%s: projecting %d status event(s) failed (%s: %s); sending them to %s instead",
                                route.name, len(updates), type(exc).__name__, exc, Topics.status)
                    return False
                # the same words as every stage's outage line (topology.process), the one phrase operators search for
                log.warning("%s: projecting %d status event(s) failed (attempt %d, infrastructure outage: waiting): %s: %s",
                            route.name, len(updates), attempt, type(exc).__name__, exc)
            if not await self._pause(min(2.0**attempt, self.backoff_cap), fevent):
                return None

    async def _process(self, route: Route, fevent: EventT) -> bool:
        """Handle one message; True when its outputs are durable and it may be acked."""
        outputs = await self._outputs(route, fevent)
        return outputs is not None and await self._send(outputs, fevent)

    async def _outputs(self, route: Route, fevent: EventT) -> list[Outbound] | None:
        """What one message makes the stage produce (its effects done), every one to be sent; None when it must
        not be acked."""
        ready = await self._ready(route, fevent)
        if ready is None or isinstance(ready, Outbound):
            return None if ready is None else [ready]
        event, key, item = ready
        return await process(route, event, key, self.ctx, self._pauser(fevent), item=item)

    async def _outputs_local(self, route: Route, fevent: EventT) -> tuple[list[Outbound], list[LocalStatuses]] | None:
        """As _outputs, with the status events of a route that `projects` apart: the lane applies them itself."""
        if not route.projects:
            outputs = await self._outputs(route, fevent)
            return None if outputs is None else (outputs, [])
        ready = await self._ready(route, fevent)
        if ready is None or isinstance(ready, Outbound):
            return None if ready is None else ([ready], [])
        event, key, item = ready
        made = await process(route, event, key, self.ctx, self._pauser(fevent), local=True, item=item)
        if made is None:
            return None
        return [o for o in made if isinstance(o, Outbound)], [o for o in made if isinstance(o, LocalStatuses)]

    async def _ready(self, route: Route, fevent: EventT) -> tuple[CloudEvent, str, Any] | Outbound | None:
        """The message's event, key and decoded input, once due (retry routes); its dead letter when it is unreadable; None
        when the host is stopping or the partition moved while it waited."""
        message = fevent.message
        try:
            event = CloudEvent.from_json(message.value or b"")
            item = route.decode(event)
        except Exception as exc:  # not a CloudEvent, or not one this route reads: retrying cannot help
            log.warning("%s: parking unreadable message %s/%s/%s on %s: %s", route.name, message.topic,
                        message.partition, message.offset, Topics.deadletter, exc)
            return parked(message, exc)
        if route.wait_until is not None:
            due = route.wait_until(item)
            while due is not None:
                remaining = (due - self.ctx.clock()).total_seconds()
                if remaining <= 0:
                    break
                if not await self._pause(min(remaining, CHECK_SECONDS), fevent):
                    return None
        key = message.key.decode("utf-8", "replace") if message.key else (event.subject or event.id)
        return event, key, item

    def _pauser(self, fevent: EventT) -> Callable[[float], Awaitable[bool]]:
        """The failure policy both hosts share (topology.process): outages (database, disk, bus) are waited out,
        anything else parks the input on the dead-letter topic after a few attempts; waits end on stop/rebalance."""
        return lambda seconds: self._pause(min(seconds, self.backoff_cap), fevent)

    async def _pause(self, seconds: float, fevent: EventT | None) -> bool:
        """Sleep; False when the event should be given up instead (stop, rebalance, partition reassigned)."""
        await self._sleep(seconds)
        return not self._stopping.is_set() and (fevent is None or self._current(fevent, starting=True))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(seconds, 0))

    # ---------------------------------------------------------------- producing

    async def _send(self, outputs: list[Outbound], fevent: EventT | None) -> bool:
        """Produce outputs and wait for the broker's acks; retry while Kafka cannot take them (never drop)."""
        if not outputs:
            return True
        delay = 0.5
        while True:
            app = self.app
            if app is None:
                return False
            try:
                await asyncio.gather(*await self._hand_over(outputs))
                return True
            except Exception as exc:
                log.warning("Kafka did not acknowledge %d output(s) (%s: %s); retrying in %.1f s",
                            len(outputs), type(exc).__name__, exc, delay)
            if not await self._pause(delay, fevent):
                return False
            delay = min(delay * 2, self.backoff_cap)

    async def _hand_over(self, outputs: list[Outbound]) -> list[asyncio.Future[Any]]:
        """Give outputs to the producer, in order; the futures resolve when the broker acknowledged each."""
        app = self.app
        if app is None:
            raise RuntimeError("the faust app is stopped")
        producer = await app.maybe_start_producer()
        return [await producer.send(out.topic, out.key.encode(), out.event.to_json(), None, None, HEADERS)
                for out in outputs]

    async def _release_due(self) -> None:
        """Scheduler tick: what EmbeddedHost._scheduler does, on the leader worker."""
        try:
            for change in await asyncio.to_thread(due_releases, self.ctx):
                pub = change.publication
                out = outbound_for(change, derived_id(f"release/{pub.id}/{pub.version}", 0), self.ctx.clock())
                if not await self._send([out], None):
                    return
                await asyncio.to_thread(self.ctx.store.mark_released, pub.id, pub.version)
        except Exception as exc:  # a failing tick must not kill the timer (or crash the app): the next tick retries
            log_failure(log, "scheduler tick", exc)
