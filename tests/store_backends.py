"""Status-store backends for tests: a SQLite file, or a fresh schema in a real PostgreSQL.

Use `BACKENDS` as fixture params and `backend_url(name, tmp_path)` to get a URL of an empty store.
PostgreSQL comes from the environment variable GOVCAST_TEST_PG_URL, which tests/run.sh sets after
starting a private cluster (deploy/dev/postgres-local). Without it the PostgreSQL cases are skipped
-- unless CI is set, where a missing PostgreSQL must fail the run, not hide it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from persistence.engine import normalize_url

PG_ENV = "GOVCAST_TEST_PG_URL"
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def pg_base_url() -> str:
    """GOVCAST_TEST_PG_URL, or skip (fail under CI) when it is not set."""
    url = os.environ.get(PG_ENV)
    if not url:
        message = (f"{PG_ENV} is not set; start a PostgreSQL with deploy/dev/postgres-local start and "
                   f"export {PG_ENV}=$(deploy/dev/postgres-local url) (tests/run.sh does both)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    return normalize_url(url)


@contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections work in a new, empty schema (search_path); the schema is dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        yield make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()


@contextmanager
def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty status store on `backend` ("sqlite" or "postgres"), gone afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'status.db'}"
        return
    with pg_schema(pg_base_url()) as url:
        yield url
