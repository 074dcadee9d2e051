"""Fixtures: the real submit API over a real SQLite status store and the real embedded log, in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT
from persistence.store import StatusStore
from processors.bus import BusUnavailable, Outbound
from processors.embedded.log import SqliteLog
from producers.api import create_app
from producers.auth import new_token
from schemas.events import CloudEvent, Topics
from settings import Settings

CHANNELS = ["portal", "wechat", "weibo"]


class OutageSwitch:
    """TEST DOUBLE around the real embedded log (processors.embedded.log.SqliteLog).

    Messages go to the real log unless `down` is set (send raises BusUnavailable, as a
    broker outage would) or `error` is set (send raises it: an unexpected failure).
    """

    def __init__(self, log: SqliteLog) -> None:
        self.log = log
        self.down = False
        self.error: Exception | None = None

    def send(self, messages: list[Outbound]) -> None:
        if self.error is not None:
            raise self.error
        if self.down:
            raise BusUnavailable("simulated outage")
        self.log.send(messages)

    def close(self) -> None:
        self.log.close()

    def events(self) -> list[CloudEvent]:
        """Every event on the publications topic, read back from the log, oldest first."""
        topic = Topics.publications
        records = [r for part in range(self.log.ensure_topic(topic)) for r in self.log.fetch("tests", topic, part, limit=10_000)]
        return sorted((r.event for r in records), key=lambda e: e.time)

    def types(self) -> list[str]:
        return [e.type for e in self.events()]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, channels=CHANNELS)


@pytest.fixture
def store(tmp_path) -> Iterator[StatusStore]:
    s = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    yield s
    s.close()


@pytest.fixture
def bus(settings: Settings) -> Iterator[OutageSwitch]:
    switch = OutageSwitch(SqliteLog(settings.log_path))
    yield switch
    switch.close()


@pytest.fixture
def client(settings: Settings, store: StatusStore, bus: OutageSwitch) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store, bus)) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def dept(store: StatusStore) -> dict[str, str]:
    """Auth headers of the demo department (DEMO_DEPARTMENT's publisher code)."""
    return _bearer(new_token(store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))


@pytest.fixture
def other(store: StatusStore) -> dict[str, str]:
    """Auth headers of a second department (OTHER_DEPARTMENT)."""
    return _bearer(new_token(store, "department", OTHER_DEPARTMENT["name"], OTHER_DEPARTMENT["publisher_code"]))


@pytest.fixture
def operator(store: StatusStore) -> dict[str, str]:
    return _bearer(new_token(store, "operator", "政务公开办值班员"))


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    """check(response, status, *fields): an RFC 9457 answer with `status` whose errors name every one of `fields`."""

    def check(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == status
        assert body["type"] and body["title"]
        assert body["instance"] == response.request.url.path
        named = [e["field"] for e in body["errors"]]
        for field in fields:
            assert field in named, f"{field} not among {named}: {body}"
        return dict(body)

    return check
