"""Both hosts' failure policy: outages wait, poison inputs are parked after a few tries."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from persistence.store import StatusStore
from processors.outage import log_failure
from processors.stages import StageContext
from processors.topology import POISON_ATTEMPTS, Route, process
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.events import Topics, new_event
from settings import Settings


def flaky_route(errors: list[Exception]) -> Route:
    async def stage(item: Any, ctx: StageContext) -> list[BaseModel]:
        if errors:
            raise errors.pop(0)
        return [StatusEvent(publication_id="pub_x", version=1, status=DeliveryStatus.delivered, at=ctx.clock())]

    return Route("flaky", ("in",), lambda event: event.data, stage)


def run_process(route: Route, tmp_path: Path, stop_after: int | None = None) -> tuple[Any, int]:
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={})
    sleeps = 0

    async def sleep(seconds: float) -> bool:
        nonlocal sleeps
        sleeps += 1
        return stop_after is None or sleeps < stop_after

    event = new_event("test", "/test", "pub_x", {"n": 1})
    return asyncio.run(process(route, event, "pub_x", ctx, sleep)), sleeps


def test_a_database_outage_is_waited_out_not_dead_lettered(tmp_path: Path) -> None:
    outage = OperationalError("UPDATE deliveries", {}, Exception("server closed the connection"))
    outputs, sleeps = run_process(flaky_route([outage] * (POISON_ATTEMPTS * 2)), tmp_path)
    assert sleeps == POISON_ATTEMPTS * 2
    assert [o.topic for o in outputs] == [Topics.status]


def test_an_input_that_keeps_failing_is_parked_on_the_dead_letter_topic(tmp_path: Path) -> None:
    outputs, sleeps = run_process(flaky_route([ValueError("bad input")] * 10), tmp_path)
    assert sleeps == POISON_ATTEMPTS - 1
    assert [o.topic for o in outputs] == [Topics.deadletter]
    assert outputs[0].event.data == {"n": 1}  # the original input, for requeueing


def test_stopping_leaves_the_input_uncommitted(tmp_path: Path) -> None:
    outputs, _ = run_process(flaky_route([ValueError("x")] * 10), tmp_path, stop_after=2)
    assert outputs is None


def test_a_periodic_task_logs_an_outage_as_one_waiting_line_and_anything_else_with_its_traceback(caplog: Any) -> None:
    log = logging.getLogger("govcast.test-periodic")
    refused = OperationalError("SELECT 1", {}, Exception("connection refused\nis the server running?"))
    with caplog.at_level(logging.INFO, logger=log.name):
        log_failure(log, "scheduler tick", refused)
        try:
            raise ValueError("a bug")
        except ValueError as bug:
            log_failure(log, "scheduler tick", bug)
    outage, other = caplog.records
    assert outage.levelno == logging.WARNING and outage.exc_info is None
    assert "infrastructure outage: waiting" in outage.getMessage() and "\n" not in outage.getMessage()
    assert other.levelno == logging.ERROR and other.exc_info is not None and other.exc_info[0] is ValueError
    assert "infrastructure outage" not in other.getMessage()
