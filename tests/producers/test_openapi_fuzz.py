"""Schemathesis over govcast's own OpenAPI document: no generated request gets a 5xx, and every answer has the
content type the document declares (errors: application/problem+json).

Bounded for CI (a few minutes): a fixed number of examples per operation, half of the cases with
an operator's token and half with a department's, so both access paths are exercised beyond 401.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error

from govcast.samples import DEMO_DEPARTMENT
from persistence.store import StatusStore
from processors.embedded.log import SqliteLog
from producers.api import create_app
from producers.auth import new_token
from settings import Settings

CHECKS = [not_a_server_error, content_type_conformance]
_turn = itertools.count()
TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data: Path = tmp_path_factory.mktemp("fuzz")
    config = Settings(data_dir=data, channels=["portal", "wechat", "weibo"])
    store = StatusStore(f"sqlite:///{data / 'status.db'}")
    log = SqliteLog(config.log_path)
    TOKENS["operator"] = new_token(store, "operator", "值班员")
    TOKENS["department"] = new_token(store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(config, store, log))
    log.close()
    store.close()


def test_no_generated_request_gets_a_server_error(api_schema: Any) -> None:
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            kind = ("operator", "department")[next(_turn) % 2]
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS[kind]}"}, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; all failures are reported together
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
