"""A pure route of the embedded host (its stage only computes: plan) commits the outputs of a whole fetch in one
log commit; an input whose stage fails is retried alone after the inputs before it are committed, and every
input's outputs reach the log once, in input order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from processors import topology
from processors.bus import Outbound
from processors.embedded.host import EmbeddedHost
from processors.embedded.log import Record, SqliteLog
from processors.stages import StageContext
from processors.topology import Route
from schemas.events import new_event
from tests.host_support import run_until_drained


class Note(BaseModel):
    n: int


class CountingLog(SqliteLog):
    """The real embedded log, counting the host's commits."""

    commits = 0

    def commit(self, group: str, record: Record, outputs: list[Outbound]) -> None:
        self.commits += 1
        super().commit(group, record, outputs)


def test_a_pure_route_commits_a_fetch_at_once_and_retries_a_failing_input_alone(tmp_path: Path, host_ctx: StageContext,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    log = CountingLog(tmp_path / "bus.db", default_partitions=1)
    failures = {7: 1}  # input 7 fails once (an outage of something the stage reads), then goes through

    async def double(n: int, _ctx: StageContext) -> list[BaseModel]:
        if failures.get(n):
            failures[n] -= 1
            raise ConnectionError("the store did not answer")
        return [Note(n=n), Note(n=-n)]

    route = Route("double", ("in",), lambda event: event.data["n"], double, pure=True)
    host = EmbeddedHost(log, host_ctx, table=[route])
    log.send([Outbound("in", "k", new_event("test.in", "/t", "k", {"n": n})) for n in range(20)])

    monkeypatch.setattr(topology, "outbound_for",  # the test's outputs go to one topic of their own
                        lambda model, event_id, now=None: Outbound("out", "k", new_event("test.out", "/t", "k", model,
                                                                                          event_id=event_id)))
    run_until_drained(host, log, "double", "in")
    out = [r.event.data["n"] for r in log.fetch("reader", "out", 0, 1000)]
    lag = log.lag("double", "in")
    log.close()
    assert out == [x for n in range(20) for x in (n, -n)]  # each once, in input order
    assert lag == 0
    assert log.commits <= 3  # inputs 0-6 together, 7 alone after its retry, 8-19 together (not 20 commits)
