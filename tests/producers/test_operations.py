"""Outages, unexpected errors, health, metrics and the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import logging
import time

from fastapi.testclient import TestClient
from sqlalchemy import event

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.outbox import pending
from producers.api import create_app
from schemas.events import EventType

CODE = DEMO_DEPARTMENT["publisher_code"]


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_bus_outage_still_accepts_durably_and_relays_once_the_bus_is_back(client, dept, bus, store):
    bus.down = True
    response = client.post("/v1/publications", json=sample_policy(), headers={**dept, "Idempotency-Key": "k-1"})
    assert response.status_code == 202, response.text  # durable in the store's outbox, not yet on the bus
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    assert response.json()["index_no"] == f"{CODE}/{year}-00001"
    assert pending(store) == 1 and bus.events() == []
    replay = client.post("/v1/publications", json=sample_policy(), headers={**dept, "Idempotency-Key": "k-1"})
    assert replay.json()["id"] == response.json()["id"]

    bus.down = False  # the background relay retries with backoff and gets it through, once
    wait_until(lambda: pending(store) == 0)
    assert [e.subject for e in bus.events()] == [response.json()["id"]]


def test_changes_during_a_bus_outage_reach_the_bus_in_order(client, dept, bus, store):
    first = client.post("/v1/publications", json=sample_policy(), headers=dept).json()
    bus.down = True
    assert client.put(first["links"]["self"], json=sample_policy(title="改"), headers=dept).status_code == 202
    assert client.post(f"{first['links']['self']}/retract", json={"reason": "撤回"}, headers=dept).status_code == 202
    now = client.get(first["links"]["self"], headers=dept).json()
    assert (now["version"], now["title"], now["retracted"]) == (2, "改", True)
    bus.down = False
    wait_until(lambda: pending(store) == 0)
    assert bus.types() == [EventType.submitted, EventType.revised, EventType.retracted]


def test_unexpected_errors_are_a_generic_500_logged_without_secrets(client, dept, store, problem, caplog, monkeypatch):
    def on_fire(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire: /secret/path")

    monkeypatch.setattr(store, "upsert_publication", on_fire)
    with caplog.at_level(logging.DEBUG):
        body = problem(client.post("/v1/publications", json=sample_policy(), headers=dept), 500)
    assert "fire" not in body["detail"] and "Traceback" not in str(body)
    assert "disk on fire" in caplog.text  # the traceback is in the log ...
    assert dept["Authorization"].split()[1] not in caplog.text  # ... the token is not
    monkeypatch.undo()
    assert client.get("/v1/publications", headers=dept).json()["total"] == 0
    assert pending(store) == 0


def test_health_and_readiness(client, store, monkeypatch, problem):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200

    def broken() -> int:
        raise OSError("database is locked")

    monkeypatch.setattr(store, "count_tokens", broken)
    problem(client.get("/readyz"), 503)


def test_metrics_count_submissions_and_publications_by_status(client, dept):
    client.post("/v1/publications", json=sample_policy(), headers=dept)
    client.post("/v1/publications", json=sample_policy(doc_no="bad"), headers=dept)
    client.post("/v1/publications", json=sample_policy(kind="notice", category="不存在"), headers=dept)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 'govcast_submissions_total{kind="policy",outcome="accepted"} 1.0' in lines
    assert 'govcast_submissions_total{kind="policy",outcome="rejected"} 1.0' in lines
    assert 'govcast_submissions_total{kind="notice",outcome="rejected"} 1.0' in lines
    assert 'govcast_publications{status="pending"} 1.0' in lines
    assert 'govcast_publications{status="delivered"} 0.0' in lines
    assert "govcast_status_store_up 1.0" in lines


def test_each_app_has_its_own_registry(settings, store, bus):
    with TestClient(create_app(settings, store, bus)) as one, TestClient(create_app(settings, store, bus)) as two:
        assert one.get("/metrics").status_code == two.get("/metrics").status_code == 200


def test_openapi_documents_bearer_auth_and_problems(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    submit = spec["paths"]["/v1/publications"]["post"]
    assert submit["security"] == [{"bearerAuth": []}]
    assert "publications" in submit["tags"]
    assert submit["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/Accepted")
    for status in ("401", "403", "409", "413", "422", "503"):
        assert set(submit["responses"][status]["content"]) == {"application/problem+json"}, status
    get_one = spec["paths"]["/v1/publications/{publication_id}"]["get"]
    assert get_one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PublicationOut")
    assert {t["name"] for t in spec["tags"]} == {"publications", "subscribers", "tokens", "audit", "operations"}


def test_a_full_store_disk_is_a_503_that_published_nothing(client, dept, bus, store, problem):
    """Issue 10 defect 1: the 503 "nothing was accepted" must be true -- no message on the bus, nothing to
    publish after a restart, and the 索引号 goes to the next accepted submission."""
    def full_disk(dbapi_conn: object, _record: object) -> None:  # SQLite's own SQLITE_FULL: no page may be added
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[attr-defined]

    event.listen(store.engine, "connect", full_disk)
    store.engine.dispose()  # every connection from now on sees the disk full
    try:
        big = sample_policy(body="<p>" + "政务公开专题培训。" * 20_000 + "</p>")
        refused = problem(client.post("/v1/publications", json=big, headers=dept), 503)
        assert "nothing was accepted" in refused["detail"]
    finally:
        event.remove(store.engine, "connect", full_disk)
        store.engine.dispose()
    assert pending(store) == 0 and bus.events() == []
    assert client.get("/v1/publications", headers=dept).json()["items"] == []
    accepted = client.post("/v1/publications", json=sample_policy(), headers=dept)
    assert accepted.status_code == 202
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    assert accepted.json()["index_no"] == f"{CODE}/{year}-00001"
    wait_until(lambda: pending(store) == 0)
    assert [e.subject for e in bus.events()] == [accepted.json()["id"]]
