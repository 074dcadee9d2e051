"""The Kafka host's delivery lanes' status events, applied to the store together (processors.faust_host).

A delivery route marked `projects` keeps its status events out of Kafka: each lane hands a run's events over
here and waits; one task applies everything handed over meanwhile in one store transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.delivery import StatusEvent


class LaneProjector:
    """The delivery lanes' status events, applied to the store together (group commit).

    A lane hands over its run's events and waits; one task takes everything handed over meanwhile and applies
    it in one transaction, so the store's commit (an fsync on SQLite) is paid once per batch, not once per lane
    run. Each lane's events stay in order, and only one lane makes the statuses of one (publication, channel).
    A batch the store refuses is applied lane by lane, so one lane's refusal is not another's.
    """

    def __init__(self, apply: Callable[[list[tuple[str, StatusEvent]]], Any]) -> None:
        self._apply = apply
        self._waiting: list[tuple[list[tuple[str, StatusEvent]], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def apply(self, updates: list[tuple[str, StatusEvent]]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((updates, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="status-projection")
        await done

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        for _, done in self._waiting:
            done.cancel()
        self._waiting = []

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._commit(batch)
            finally:  # cancelled (stop): its lanes give up too, their inputs unacked
                for _, done in batch:
                    if not done.done():
                        done.cancel()

    async def _commit(self, batch: list[tuple[list[tuple[str, StatusEvent]], asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self._apply, [u for updates, _ in batch for u in updates])
            outcomes: list[BaseException | None] = [None] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                outcomes = []
                for updates, _ in batch:
                    try:
                        await asyncio.to_thread(self._apply, updates)
                        outcomes.append(None)
                    except Exception as alone:
                        outcomes.append(alone)
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done.done():  # its lane was cancelled meanwhile (stop, rebalance): nobody waits for it
                continue
            if outcome is None:
                done.set_result(None)
            else:
                done.set_exception(outcome)
