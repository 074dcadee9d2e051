"""Disclosure adapter against the sandbox platform over real HTTP: records per unit, signing, faults, idempotency."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from adapters.base import AdapterServices
from adapters.disclosure import SANDBOX_SECRET, DisclosureAdapter, DisclosureConfig
from adapters.disclosure.render import render_disclosure
from adapters.disclosure.signing import APP_ID, NONCE, SIGNATURE, TIMESTAMP, new_nonce, sign
from persistence.ledger import Ledger
from persistence.store import StatusStore
from schemas.delivery import Action, Delivered, DeliveryTask, Rejected, Retryable, delivery_id
from schemas.publication import Publication
from settings import Settings
from tests.adapters.disclosure_support import APP_ID as TEST_APP
from tests.adapters.disclosure_support import GAS, WATER_A, WATER_B, SandboxServer, serve_sandbox, water_notice

SETTINGS = Settings(public_url="http://gov.test")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with serve_sandbox() as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    """A fresh platform per test; afterwards the sandbox must not have refused any request of the adapter."""
    server.platform.reset()
    yield server
    assert server.platform.refused == [], server.platform.refused


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(StatusStore(f"sqlite:///{tmp_path}/status.db").engine)


def make_adapter(sandbox: SandboxServer, ledger: Ledger, **changes: Any) -> DisclosureAdapter:
    config = DisclosureConfig(**{"base_url": sandbox.url, "app_id": TEST_APP, "secret": SecretStr(SANDBOX_SECRET),
                                 "timeout": 5, **changes})
    return DisclosureAdapter(config, AdapterServices(ledger=ledger, public_url="http://gov.test"))


@pytest.fixture
def adapter(sandbox: SandboxServer, ledger: Ledger) -> Iterator[DisclosureAdapter]:
    made = make_adapter(sandbox, ledger)
    yield made
    made.close()


def task(pub: Publication, action: Action = Action.publish) -> DeliveryTask:
    rendition = render_disclosure(pub, SETTINGS) if action is Action.publish else {}
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "disclosure", action), channel="disclosure",
                        action=action, publication=pub, rendition=rendition)


def records(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    """The platform's records by unit credit code."""
    return {r["unit"]["credit_code"]: r for r in sandbox.platform.records.values()}


def creates(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [r for r in sandbox.platform.requests if r["method"] == "POST" and r["path"].endswith("/v1/records")]


# -- rendering ------------------------------------------------------------------------------------


def test_renderer_makes_one_record_per_unit_from_the_registry() -> None:
    pub = water_notice()
    rendition = render_disclosure(pub, SETTINGS)
    assert rendition["unknown_units"] == []
    first, second = rendition["records"]
    assert first["unit"] == {"credit_code": WATER_A, "name": "济南泉城供水有限公司（演示）", "sector": "供水"}
    assert second["unit"]["credit_code"] == WATER_B and second["unit"]["sector"] == "供水"
    assert first["source_url"] == f"http://gov.test/portal/tzgg/{pub.id}.html"  # the portal page of the notice
    assert first["source_id"] == pub.id and first["disclosure_matter"] == "水质信息"
    assert first["validity"] == "有效" and first["publish_date"] == "2025-04-01"
    assert first["index_no"] == pub.index_no_text and first["title"] == pub.title
    unknown = render_disclosure(water_notice(units=[WATER_A, "91350100M000100Y0N"], disclosure_matter=None), SETTINGS)
    assert unknown["unknown_units"] == ["91350100M000100Y0N"] and len(unknown["records"]) == 1
    assert unknown["records"][0]["disclosure_matter"] == "通知公告"  # default: the 组配分类


# -- signing and replay protection ----------------------------------------------------------------


def signed_get(sandbox: SandboxServer, *, secret: str = SANDBOX_SECRET, nonce: str | None = None,
               timestamp: int | None = None, app: str = TEST_APP) -> requests.Response:
    path = "/sandbox/disclosure/v1/records?source_id=pub_x"
    ts, nonce = str(timestamp if timestamp is not None else int(time.time())), nonce or new_nonce()
    # the contract's algorithm written out independently of adapters.disclosure.signing
    message = "\n".join(["GET", path, ts, nonce, hashlib.sha256(b"").hexdigest()])
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert signature == sign(secret, "GET", path, ts, nonce, b"")
    host = sandbox.url.removesuffix("/sandbox/disclosure")
    return requests.get(host + path, headers={APP_ID: app, TIMESTAMP: ts, NONCE: nonce, SIGNATURE: signature}, timeout=5)


def test_sandbox_refuses_bad_signatures_replays_and_stale_timestamps(server: SandboxServer) -> None:
    server.platform.reset()
    nonce = new_nonce()
    assert signed_get(server, nonce=nonce).status_code == 200
    replay = signed_get(server, nonce=nonce)
    assert (replay.status_code, replay.json()["code"]) == (401, "NONCE_REPLAYED")
    forged = signed_get(server, secret="not-the-secret")
    assert (forged.status_code, forged.json()["code"]) == (401, "SIGNATURE_INVALID")
    stale = signed_get(server, timestamp=int(time.time()) - 301)
    assert (stale.status_code, stale.json()["code"]) == (401, "TIMESTAMP_EXPIRED")
    stranger = signed_get(server, app="someone-else")
    assert (stranger.status_code, stranger.json()["code"]) == (401, "UNKNOWN_APP")
    unsigned = requests.get(server.url + "/v1/records?source_id=pub_x", timeout=5)
    assert unsigned.status_code == 401
    body = json.dumps({"reason": "x"}).encode()
    tampered = requests.post(server.url + "/v1/records/REC-1/revoke", data=body + b" ", timeout=5, headers={
        APP_ID: TEST_APP, TIMESTAMP: str(int(time.time())), NONCE: (n := new_nonce()),
        SIGNATURE: sign(SANDBOX_SECRET, "POST", "/sandbox/disclosure/v1/records/REC-1/revoke", str(int(time.time())), n, body)})
    assert tampered.json()["code"] == "SIGNATURE_INVALID"  # the body hash is signed
    assert [r["code"] for r in server.platform.refused] == [
        "NONCE_REPLAYED", "SIGNATURE_INVALID", "TIMESTAMP_EXPIRED", "UNKNOWN_APP", "UNKNOWN_APP", "SIGNATURE_INVALID"]
    server.platform.reset()


# -- publish, revise, retract ---------------------------------------------------------------------


def test_a_water_notice_files_one_record_per_company(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    pub = water_notice()
    result = adapter.deliver(task(pub))
    assert isinstance(result, Delivered), result
    held = records(sandbox)
    assert set(held) == {WATER_A, WATER_B}
    for record in held.values():
        assert record["status"] == "published" and record["validity"] == "有效"
        assert record["source_url"] == f"http://gov.test/portal/tzgg/{pub.id}.html"
        assert record["unit"]["sector"] == "供水" and record["source_id"] == pub.id
    assert result.external_id == ",".join(held[c]["record_id"] for c in sorted(held))


def test_delivering_again_creates_nothing(adapter: DisclosureAdapter, sandbox: SandboxServer, ledger: Ledger) -> None:
    pub = water_notice()
    first = adapter.deliver(task(pub))
    again = adapter.deliver(task(pub))
    assert isinstance(again, Delivered) and again.external_id == first.external_id  # type: ignore[union-attr]
    assert len(creates(sandbox)) == 2 and len(sandbox.platform.records) == 2


def test_a_lost_answer_is_reconciled_through_the_duplicate_answer(sandbox: SandboxServer, tmp_path: Path) -> None:
    pub = water_notice()
    first = make_adapter(sandbox, Ledger(StatusStore(f"sqlite:///{tmp_path}/a.db").engine)).deliver(task(pub))
    # a worker that never saw the answers (empty ledger) delivers the same task again
    second = make_adapter(sandbox, Ledger(StatusStore(f"sqlite:///{tmp_path}/b.db").engine)).deliver(task(pub))
    assert isinstance(second, Delivered) and second.external_id == first.external_id  # type: ignore[union-attr]
    assert len(sandbox.platform.records) == 2
    assert [r["code"] for r in sandbox.platform.requests if r["status"] == 409] == ["DUPLICATE_RECORD"] * 2


def test_a_validity_change_updates_every_record(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    adapter.deliver(task(water_notice()))
    ids = {c: r["record_id"] for c, r in records(sandbox).items()}
    result = adapter.deliver(task(water_notice(version=2, validity="失效", title="关于水质检测结果的公告（已失效）")))
    assert isinstance(result, Delivered) and "失效" in (result.detail or "")
    after = records(sandbox)
    assert {c: r["record_id"] for c, r in after.items()} == ids  # the same records, updated
    assert {r["validity"] for r in after.values()} == {"失效"}
    assert {r["title"] for r in after.values()} == {"关于水质检测结果的公告（已失效）"}
    assert len(creates(sandbox)) == 2
    # an older version delivered late does not roll the records back
    late = adapter.deliver(task(water_notice(version=1)))
    assert isinstance(late, Delivered) and {r["validity"] for r in records(sandbox).values()} == {"失效"}


def test_a_revision_that_drops_a_unit_revokes_its_record(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    adapter.deliver(task(water_notice()))
    result = adapter.deliver(task(water_notice(version=2, units=[WATER_A, GAS])))
    assert isinstance(result, Delivered), result
    held = records(sandbox)
    assert held[WATER_B]["status"] == "revoked" and held[WATER_A]["status"] == "published"
    assert held[GAS]["status"] == "published" and held[GAS]["unit"]["sector"] == "供气"


def test_retraction_revokes_every_record_and_later_publish_retries_file_nothing(
        adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    pub = water_notice()
    adapter.deliver(task(pub))
    gone = pub.model_copy(update={"retracted": True, "retract_reason": "检测数据有误"})
    result = adapter.deliver(task(gone, Action.retract))
    assert isinstance(result, Delivered) and "2 record(s) revoked" in (result.detail or "")
    assert {(r["status"], r["revoke_reason"]) for r in records(sandbox).values()} == {("revoked", "检测数据有误")}
    assert isinstance(adapter.deliver(task(gone, Action.retract)), Delivered)  # idempotent
    late = adapter.deliver(task(water_notice(version=2, validity="失效")))
    assert isinstance(late, Delivered) and "retracted" in (late.detail or "")
    assert {r["status"] for r in records(sandbox).values()} == {"revoked"}


def test_retraction_finds_records_whose_answers_were_lost(sandbox: SandboxServer, tmp_path: Path) -> None:
    pub = water_notice()
    make_adapter(sandbox, Ledger(StatusStore(f"sqlite:///{tmp_path}/a.db").engine)).deliver(task(pub))
    other = make_adapter(sandbox, Ledger(StatusStore(f"sqlite:///{tmp_path}/b.db").engine))
    result = other.deliver(task(pub.model_copy(update={"retracted": True, "retract_reason": "撤回"}), Action.retract))
    assert isinstance(result, Delivered) and {r["status"] for r in records(sandbox).values()} == {"revoked"}


# -- faults ---------------------------------------------------------------------------------------


def test_maintenance_is_retryable_with_the_platforms_hint_and_completes_afterwards(
        adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    requests.post(sandbox.url + "/_faults", json={"maintenance_seconds": 120}, timeout=5).raise_for_status()
    result = adapter.deliver(task(water_notice()))
    assert isinstance(result, Retryable) and 118 <= result.retry_after <= 120 and "MAINTENANCE" in result.reason
    assert sandbox.platform.records == {}
    requests.post(sandbox.url + "/_clock", json={"advance_seconds": 121}, timeout=5).raise_for_status()
    assert isinstance(adapter.deliver(task(water_notice())), Delivered)
    assert len(sandbox.platform.records) == 2


def test_rate_limit_midway_resumes_with_the_remaining_unit(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    pub = water_notice()
    platform = sandbox.platform
    platform.rate_limited, platform.rate_retry_after = 0, 7
    original = platform.create

    def create_then_limit(*args: Any, **kwargs: Any) -> Any:  # the first create passes, then the quota is gone
        answer = original(*args, **kwargs)
        platform.rate_limited = 1
        return answer

    platform.create = create_then_limit  # type: ignore[method-assign]
    try:
        result = adapter.deliver(task(pub))
    finally:
        platform.create = original  # type: ignore[method-assign]
    assert isinstance(result, Retryable) and result.retry_after == 7 and "RATE_LIMITED" in result.reason
    assert len(platform.records) == 1
    assert isinstance(adapter.deliver(task(pub)), Delivered)
    assert len(platform.records) == 2 and len(creates(sandbox)) == 3  # 1 created, 1 limited, 1 created; none repeated


def test_content_rejection_is_final(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    requests.post(sandbox.url + "/_faults", json={"reject": {"requests": 1, "code": "CONTENT_REJECTED"}},
                  timeout=5).raise_for_status()
    result = adapter.deliver(task(water_notice()))
    assert isinstance(result, Rejected) and result.code == "CONTENT_REJECTED"


def test_units_unknown_to_the_registry_are_rejected_before_any_call(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    result = adapter.deliver(task(water_notice(units=["91350100M000100Y0N"])))
    assert isinstance(result, Rejected) and result.code == "INVALID_UNIT"
    assert sandbox.platform.requests == []


def test_the_platform_refuses_a_unit_it_does_not_know(adapter: DisclosureAdapter, sandbox: SandboxServer) -> None:
    t = task(water_notice())
    rendition = json.loads(json.dumps(t.rendition))
    rendition["records"][0]["unit"]["name"] = "冒名供水公司"
    result = adapter.deliver(t.model_copy(update={"rendition": rendition}))
    assert isinstance(result, Rejected) and result.code == "INVALID_UNIT"


def test_an_unreachable_platform_is_retryable(ledger: Ledger) -> None:
    from tests.conftest import free_port

    config = DisclosureConfig(base_url=f"http://127.0.0.1:{free_port()}", app_id=TEST_APP, secret=SecretStr("s"),
                              timeout=1, network_attempts=2)
    adapter = DisclosureAdapter(config, AdapterServices(ledger=ledger, public_url="http://gov.test"))
    started = time.monotonic()
    result = adapter.deliver(task(water_notice()))
    assert isinstance(result, Retryable) and "unreachable" in result.reason
    assert time.monotonic() - started < 10


def test_config_keeps_the_secret_out_of_logs() -> None:
    config = DisclosureConfig(base_url="https://platform.example/api", app_id="a", secret=SecretStr("top-secret"))
    assert "top-secret" not in repr(config) and "top-secret" not in str(config.model_dump())
    with pytest.raises(ValueError, match="secret"):
        DisclosureConfig(base_url="https://platform.example/api", app_id="a", secret=SecretStr(""))
