"""A slow channel holds its own threads only: the event loop and the other channels keep going."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.channel_threads import ChannelThreads
from processors.normalize import normalize
from processors.stages import StageContext, deliver
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryStatus, DeliveryTask, StatusEvent, delivery_id
from schemas.publication import IndexNo, PublicationIn
from settings import Settings

CODE = DEMO_DEPARTMENT["publisher_code"]


class BlockingAdapter:
    """A platform that answers only when the test lets it (as a platform taking 10 s would), counting calls in flight."""

    def __init__(self, channel: str, release: threading.Event | None = None) -> None:
        self.channel, self.release = channel, release
        self.in_flight = self.most = 0
        self.lock = threading.Lock()

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if self.release is not None:
                assert self.release.wait(30)
            return Delivered(url=f"https://{self.channel}.test/{task.delivery_id}")
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        pass


def task(n: int, channel: str) -> DeliveryTask:
    pub = normalize(PublicationIn.model_validate(sample_policy(channels=["portal"])), publication_id=f"pub_threads{n:012d}",
                    version=1, department=CODE, index=IndexNo(code=CODE, year=2025, sequence=n),
                    submitted_at=dt.datetime.now(dt.UTC))
    return DeliveryTask(delivery_id=delivery_id(pub.id, 1, channel, Action.publish), channel=channel,
                        action=Action.publish, publication=pub)


def test_a_blocked_channel_uses_at_most_its_limit_of_threads_and_blocks_neither_the_loop_nor_other_channels(
        tmp_path: Path) -> None:
    release = threading.Event()
    slow, fast = BlockingAdapter("weibo", release), BlockingAdapter("portal")
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=StatusStore(f"sqlite:///{tmp_path}/s.db"),
                       adapters={"weibo": slow, "portal": fast}, threads=ChannelThreads(limit=2))

    async def scenario() -> tuple[list[list[object]], float, float]:
        lag = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:  # how late the loop runs a 10 ms timer while the channel is stuck
            nonlocal lag
            while not stop.is_set():
                started = time.monotonic()
                await asyncio.sleep(0.01)
                lag = max(lag, time.monotonic() - started - 0.01)

        ticking = asyncio.create_task(ticker())
        stuck = [asyncio.create_task(deliver(task(n, "weibo"), ctx)) for n in range(6)]
        while slow.in_flight < 2:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        other = await asyncio.wait_for(deliver(task(99, "portal"), ctx), timeout=10)
        other_took = time.monotonic() - started
        assert not any(t.done() for t in stuck)
        release.set()
        done = await asyncio.wait_for(asyncio.gather(*stuck), timeout=30)
        stop.set()
        await ticking
        return [*done, other], other_took, lag

    try:
        results, other_took, lag = asyncio.run(scenario())
    finally:
        ctx.threads.close()
        ctx.store.close()
    statuses = [out[0].status for out in results if isinstance(out[0], StatusEvent)]
    assert statuses == [DeliveryStatus.delivered] * 7
    assert slow.most == 2  # the channel's limit, although six deliveries were waiting
    assert other_took < 5 and lag < 1.0  # generous bounds: the machine running the suite is shared



class RecordingAdapter(BlockingAdapter):
    """Notes which thread delivered."""

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        self.thread = threading.get_ident()
        return super().deliver(task)


class MemoryAdapter(RecordingAdapter):
    """An adapter that only touches memory and says so: no reason to pay two thread switches per delivery."""

    blocking = False


def test_only_an_adapter_that_declares_it_never_blocks_is_called_on_the_event_loop(tmp_path: Path) -> None:
    memory, platform = MemoryAdapter("portal"), RecordingAdapter("weibo")
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=StatusStore(f"sqlite:///{tmp_path}/s.db"),
                       adapters={"portal": memory, "weibo": platform}, threads=ChannelThreads(limit=2))

    async def scenario() -> int:
        await deliver(task(1, "portal"), ctx)
        await deliver(task(2, "weibo"), ctx)
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(scenario())
    finally:
        ctx.threads.close()
        ctx.store.close()
    assert memory.thread == loop_thread
    assert platform.thread != loop_thread  # every other adapter may block: its channel's pool
