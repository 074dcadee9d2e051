"""The Kafka host's group commit of the delivery lanes' status events (processors.lane_projection.LaneProjector)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import pytest

from processors.lane_projection import LaneProjector
from schemas.delivery import DeliveryStatus, StatusEvent


def updates(lane: str, n: int = 2) -> list[tuple[str, StatusEvent]]:
    at = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    return [(f"{lane}/{i}", StatusEvent(publication_id=f"pub_{lane}", version=1, channel="portal",
                                        status=DeliveryStatus.delivered, at=at)) for i in range(n)]


def test_lanes_waiting_together_share_one_transaction_in_their_order() -> None:
    calls: list[list[str]] = []
    first_started, release = threading.Event(), threading.Event()

    def apply(batch: list[tuple[str, StatusEvent]]) -> None:
        calls.append([event_id for event_id, _ in batch])
        if len(calls) == 1:
            first_started.set()
            release.wait(5)  # the first transaction is slow: three lanes queue up meanwhile

    async def scenario() -> None:
        projector = LaneProjector(apply)
        first = asyncio.create_task(projector.apply(updates("a")))
        await asyncio.to_thread(first_started.wait, 5)
        rest = [asyncio.create_task(projector.apply(updates(lane))) for lane in "bcd"]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert calls == [["a/0", "a/1"], ["b/0", "b/1", "c/0", "c/1", "d/0", "d/1"]]


def test_a_refused_batch_is_applied_lane_by_lane_and_only_the_refused_lane_fails() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def apply(batch: list[tuple[str, StatusEvent]]) -> None:
        ids = [event_id for event_id, _ in batch]
        calls.append(ids)
        if len(calls) == 1:
            gate.wait(5)
            return
        if any(i.startswith("bad/") for i in ids):
            raise ValueError("a row the store cannot take")

    async def scenario() -> list[Any]:
        projector = LaneProjector(apply)
        first = asyncio.create_task(projector.apply(updates("a", 1)))
        await asyncio.sleep(0.05)
        later = [asyncio.create_task(projector.apply(updates(lane, 1))) for lane in ("b", "bad", "c")]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        return await asyncio.gather(*later, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert calls == [["a/0"], ["b/0", "bad/0", "c/0"], ["b/0"], ["bad/0"], ["c/0"]]


def test_stop_cancels_the_waiting_lanes() -> None:
    gate = threading.Event()

    async def scenario() -> None:
        projector = LaneProjector(lambda batch: gate.wait(5))
        waiting = asyncio.create_task(projector.apply(updates("a")))
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(projector.stop())
        await asyncio.sleep(0.05)
        gate.set()
        await stopping
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())
