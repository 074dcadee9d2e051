"""Blocking channel adapters run off the event loop, each channel in its own bounded thread pool.

Adapters do blocking I/O (HTTP with requests, files, SMTP). On the loop's shared default executor a
slow channel (a platform answering in 10 s) would hold every worker thread, and the status store's
calls, the bus and the other channels would queue behind it. Here each channel gets at most
`limit` threads (GOVCAST_CHANNEL_CONCURRENCY) created on first use: that many of its deliveries run
at once in this process, the rest wait their turn without blocking the loop, and the other channels
and the store keep their own threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_LIMIT = 4  # the Kafka host works on up to GOVCAST_PARTITIONS (4) lanes of one channel at a time


class ChannelThreads:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._closed = False

    def pool(self, channel: str) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("channel threads closed")
            pool = self._pools.get(channel)
            if pool is None:
                pool = self._pools[channel] = ThreadPoolExecutor(self.limit, thread_name_prefix=f"govcast-{channel}")
            return pool

    async def run(self, channel: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in `channel`'s pool (with the caller's context variables, as asyncio.to_thread).

        A bound method of an object that declares `blocking = False` (an adapter that only touches memory)
        is called right here, on the loop: two thread switches would cost more than the call itself.
        """
        if getattr(getattr(fn, "__self__", None), "blocking", True) is False:
            return fn(*args)
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.pool(channel), call)

    def close(self) -> None:
        """Stop taking work; deliveries already running finish in their threads (not waited for here)."""
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
