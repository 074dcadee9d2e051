"""Schemathesis runs the disclosure sandbox against the documented contract (deploy/disclosure/openapi.yaml).

Every generated request is signed the way the contract says (a requests auth hook over the
prepared request), so the platform's answers are checked beyond its signature gate: status
codes and content types are documented, bodies match their schemas, 429/503 carry
Retry-After, and requests that break the schema are refused.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.disclosure import SANDBOX_SECRET
from adapters.disclosure.signing import signed_headers
from tests.adapters.disclosure_support import APP_ID, WATER_A, SandboxServer, serve_sandbox

CONTRACT = Path(__file__).resolve().parents[2] / "deploy" / "disclosure" / "openapi.yaml"
schema = schemathesis.openapi.from_path(str(CONTRACT))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
REGISTERED = {"credit_code": WATER_A, "name": "济南泉城供水有限公司（演示）", "sector": "供水"}
_turn = itertools.count()
OPERATIONS: dict[str, dict[str, Any] | None] = {
    "createRecord": {"source_id": "pub_1", "unit": REGISTERED, "disclosure_matter": "水质信息", "title": "t",
                     "content": "<p>c</p>", "publish_date": "2025-04-01", "validity": "有效",
                     "source_url": "http://gov.test/portal/tzgg/pub_1.html"},
    "findRecords": None,
    "getRecord": None,
    "updateRecord": {"validity": "失效"},
    "revokeRecord": {"reason": "x"},
}


class Signed(requests.auth.AuthBase):
    """Signs the prepared request: its exact request-target and body bytes, a fresh nonce each time."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body if isinstance(r.body, bytes) else str(r.body or "").encode()
        r.headers.update(signed_headers(APP_ID, SANDBOX_SECRET, r.method or "GET", r.path_url, body, time.time()))
        return r


@pytest.fixture(scope="module")
def platform_server() -> Iterator[SandboxServer]:
    with serve_sandbox() as running:
        yield running


def _steer(case: Any, server: SandboxServer) -> None:
    """Half of the cases name a registered unit or an existing record, so answers beyond 404/422 get checked too."""
    turn = next(_turn)
    if turn % 2:
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("unit"), dict):
        body["unit"] = dict(REGISTERED)
    if case.path_parameters and "record_id" in case.path_parameters and server.platform.records:
        ids = sorted(server.platform.records)
        case.path_parameters["record_id"] = ids[turn % len(ids)]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_sandbox_conforms_to_the_contract(case: Any, platform_server: SandboxServer) -> None:
    _steer(case, platform_server)
    session = requests.Session()
    session.auth = Signed()
    checks = CHECKS
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative and "X-Disclosure-" in str(meta.phase.data.description or ""):
        # a mutated signing header: the auth hook signs every request anyway; refusals of missing or
        # bad signatures, replays and stale timestamps are tested directly in test_disclosure.py
        checks = CHECKS[:-1]
    case.call_and_validate(base_url=platform_server.url, session=session, checks=checks)


def test_faults_answer_as_documented(platform_server: SandboxServer) -> None:
    """429 and 503 (with Retry-After) validated against the contract for every operation."""
    platform = platform_server.platform
    session = requests.Session()
    session.auth = Signed()
    for fault in ({"maintenance_seconds": 60}, {"rate_limit": {"requests": 100, "retry_after": 9}}):
        requests.post(platform_server.url + "/_faults", json={"clear": True, **fault}, timeout=5).raise_for_status()
        for operation, body in OPERATIONS.items():
            op = schema.find_operation_by_id(operation)
            kwargs: dict[str, Any] = {"body": body} if body is not None else {}
            if "record_id" in op.path:
                kwargs["path_parameters"] = {"record_id": "REC-1"}
            if operation == "findRecords":
                kwargs["query"] = {"source_id": "pub_1"}
            case = op.Case(**kwargs)
            response = case.call(base_url=platform_server.url, session=session)
            assert response.status_code in (429, 503), (operation, response.text)
            assert response.headers["retry-after"][0].isdigit()  # schemathesis: lower-case names, lists of values
            case.validate_response(response, checks=CHECKS[1:5])  # 5xx is expected here: 503 is documented
    requests.post(platform_server.url + "/_faults", json={"clear": True}, timeout=5).raise_for_status()
    assert platform.refused == []  # every request above was signed correctly
