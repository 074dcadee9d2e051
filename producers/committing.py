"""One request's transaction, run again while a concurrent request got in the way, and its failures as answers.

Several API processes on PostgreSQL may commit the same 索引号 sent explicitly, the same Idempotency-Key, or
deadlock: the next run sees the winner's committed state and answers from it (a replay, or 409 for a taken
索引号). A store that cannot commit at all (disk full, database down) is 503: nothing was kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from persistence.engine import retryable, unique_violation
from persistence.faults import kill_point
from producers.errors import Conflict, Unavailable

log = logging.getLogger("govcast.publishing")

ATTEMPTS = 3  # runs of one request's transaction when a concurrent request got in the way

T = TypeVar("T")


def committed(run: Callable[[], T]) -> T:
    """`run()` (one commit of the group-commit writer), run again while a concurrent request got in the way."""
    for attempt in range(1, ATTEMPTS + 1):
        kill_point("commit:before")
        try:
            return run()
        except DBAPIError as exc:
            retry_or_raise(exc, attempt)
    raise AssertionError("unreachable")


async def committed_async(run: Callable[[], Awaitable[T]]) -> T:
    """`committed` for the writer's awaitable entry points."""
    for attempt in range(1, ATTEMPTS + 1):
        kill_point("commit:before")
        try:
            return await run()
        except DBAPIError as exc:
            retry_or_raise(exc, attempt)
    raise AssertionError("unreachable")


def retry_or_raise(exc: DBAPIError, attempt: int) -> None:
    """Return when the transaction is worth another run; else raise what the caller answers."""
    if not retryable(exc):
        if isinstance(exc, OperationalError | InterfaceError):
            log.warning("status store unavailable, request rolled back: %s", exc.orig)
            raise Unavailable("the status store is unavailable; nothing was accepted, retry later") from exc
        raise exc
    if attempt == ATTEMPTS:
        if unique_violation(exc):
            raise Conflict("a concurrent request changed the same record; fetch it and retry") from exc
        raise exc
    log.info("request conflicted with a concurrent one (attempt %d), running it again: %s", attempt, exc.orig)
