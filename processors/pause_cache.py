"""The channel pauses as a process's delivery stages see them: read from the store at most once per PAUSE_READ_SECONDS.

Every delivery task (or batch) asks whether its channel is paused. Reading the tiny channel_pauses table for each
one cost a thread hop and a SELECT per publication and channel (about a seventh of a Kafka worker's CPU per
publication, issue 16), so each process keeps the last answer for PAUSE_READ_SECONDS. The bound an operator gets:
a pause (or resume) committed at time T holds for every delivery whose check starts after T + PAUSE_READ_SECONDS,
in every process and on every node, because the answer a check uses was read from a query that started at most
PAUSE_READ_SECONDS before the check. A delivery already past its check when the pause came is sent anyway, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from persistence.operations import Pause
from persistence.store import StatusStore

PAUSE_READ_SECONDS = 1.0


class PauseCache:
    """The store's channel pauses, no older than `max_age` seconds (by `monotonic`) when handed out."""

    def __init__(self, max_age: float = PAUSE_READ_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._monotonic = monotonic
        self._pauses: dict[str, Pause] = {}
        self._read_at: float | None = None  # when the query behind _pauses started

    async def of(self, store: StatusStore, channel: str) -> Pause | None:
        """The channel's pause, or None; a store outage raises, as a read of the store would."""
        started = self._monotonic()
        if self._read_at is None or started - self._read_at >= self.max_age:
            pauses = await asyncio.to_thread(store.pauses)
            if self._read_at is None or started > self._read_at:  # a slower, older concurrent read does not win
                self._pauses, self._read_at = pauses, started
            return pauses.get(channel)
        return self._pauses.get(channel)
