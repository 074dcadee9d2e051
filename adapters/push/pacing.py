"""Per-channel rate limits of push sub-channels: a thread-safe token bucket (one per worker process and channel),
configured to the provider's limits (SMS, WeChat template messages)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, bursts up to `burst`; thread-safe (one bucket per worker process and channel)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.capacity = rate, max(1.0, burst if burst is not None else rate)
        self.clock, self.sleep = clock, sleep
        self.tokens, self.stamp = self.capacity, clock()
        self.lock = threading.Lock()

    def take(self, max_wait: float) -> float:
        """0.0: a token was taken (after waiting up to `max_wait`); else the seconds until one is free (none taken)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            wait = max(0.0, (1.0 - self.tokens) / self.rate)
            if wait > max_wait:
                return wait
            self.tokens -= 1.0  # reserved: later callers queue behind this one
        if wait > 0:
            self.sleep(wait)
        return 0.0

    def acquire(self) -> float:
        """Take one token, however long that takes; returns the seconds waited."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1.0  # a debt when negative: later callers queue behind this one
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)
        return wait
