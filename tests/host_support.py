"""Running an embedded host in a test until its route has taken everything on its topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from processors.embedded.host import EmbeddedHost
from processors.embedded.log import SqliteLog


def run_until_drained(host: EmbeddedHost, log: SqliteLog, group: str, topic: str,
                      feed: Callable[[], Awaitable[None]] | None = None, timeout: float = 20.0) -> None:
    """Run `host` (after `feed`, which may append while it runs) until `group` has no lag on `topic`, then stop it."""

    async def scenario() -> None:
        runner = asyncio.create_task(host.run())
        if feed is not None:
            await feed()
        deadline = time.monotonic() + timeout
        while log.lag(group, topic) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        host.stop()
        await runner

    asyncio.run(scenario())
