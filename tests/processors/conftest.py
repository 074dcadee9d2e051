"""Fixtures of the processor tests: a status store on each backend (SQLite file, PostgreSQL schema) and
the real Kafka broker for the faust host (see tests/kafka_fixtures.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence.store import StatusStore
from processors.stages import StageContext
from settings import Settings
from tests.kafka_fixtures import kafka_broker, kafka_url
from tests.store_backends import BACKENDS, backend_url

__all__ = ["kafka_broker", "kafka_url"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StatusStore]:
    """An empty status store, once on each backend (a module may define its own `store` instead)."""
    with backend_url(request.param, tmp_path) as url:
        s = StatusStore(url)
        yield s
        s.close()


@pytest.fixture
def host_ctx(tmp_path: Path) -> Iterator[StageContext]:
    """What the embedded host's own tests run their test routes with: a SQLite store in tmp_path, the portal channel
    configured, no adapters."""
    s = StatusStore(f"sqlite:///{tmp_path}/s.db")
    yield StageContext(settings=Settings(data_dir=tmp_path, channels=["portal"]), store=s, adapters={})
    s.close()
