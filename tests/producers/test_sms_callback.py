"""The SmsReport receiver at /callbacks/sms/{token}: token check, body checks, matching receipts to deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine

from adapters.channels import callback_routers
from adapters.push.sms_client import SANDBOX_CALLBACK_TOKEN
from persistence.ledger import Ledger
from settings import Settings

TOKEN = "k7Qp2w9ZrX4mVb8nT1yLc6Hd"


def report(**changes: Any) -> dict[str, Any]:
    return {"phone_number": "13900000001", "send_time": "2025-03-04 10:00:00", "report_time": "2025-03-04 10:00:03",
            "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
            "biz_id": "900619746936498440^0", "out_id": "dlv_known", **changes}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"))


def client_for(settings: Settings, ledger: Ledger) -> TestClient:
    app = FastAPI()
    app.include_router(callback_routers()["sms"](settings, ledger), prefix="/callbacks/sms")
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path, ledger: Ledger) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, sandboxes=False, channel_env={"push": {
        "sms_endpoint": "https://dysmsapi.aliyuncs.com/", "sms_callback_token": SecretStr(TOKEN)}})
    with client_for(settings, ledger) as c:
        yield c


def test_receipt_is_stored_on_its_delivery_by_out_id(client: TestClient, ledger: Ledger) -> None:
    ledger.put("push", "dlv_known", sms_state="accepted")
    answer = client.post(f"/callbacks/sms/{TOKEN}", json=[report()])
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "成功"}
    receipt = ledger.get("push", "dlv_known")["receipt"]
    assert receipt == {"channel": "sms", "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功",
                       "report_time": "2025-03-04 10:00:03", "biz_id": "900619746936498440^0"}


def test_receipt_without_our_out_id_is_found_by_biz_id(client: TestClient, ledger: Ledger) -> None:
    ledger.put("push", "dlv_other", external_ref="sms:123^0", sms_state="accepted")
    answer = client.post(f"/callbacks/sms/{TOKEN}", json=[report(out_id="", biz_id="123^0", success=False,
                                                                       err_code="MK:0001", err_msg="MK:0001")])
    assert answer.status_code == 200
    assert ledger.get("push", "dlv_other")["receipt"]["err_code"] == "MK:0001"


def test_unknown_ids_are_acknowledged_and_not_recorded(client: TestClient, ledger: Ledger) -> None:
    answer = client.post(f"/callbacks/sms/{TOKEN}", json=[report(out_id="dlv_nobody", biz_id="404^0")])
    assert answer.status_code == 200 and answer.json()["code"] == 0
    assert ledger.get("push", "dlv_nobody") == {}


@pytest.mark.parametrize("token", ["wrong-token", TOKEN[:-1], TOKEN + "x", SANDBOX_CALLBACK_TOKEN])
def test_wrong_token_is_forbidden_and_changes_nothing(client: TestClient, ledger: Ledger, token: str) -> None:
    ledger.put("push", "dlv_known", sms_state="accepted")
    answer = client.post(f"/callbacks/sms/{token}", json=[report()])
    assert answer.status_code == 403
    assert "receipt" not in ledger.get("push", "dlv_known")


@pytest.mark.parametrize("body", [b"{not json", b'{"success": true}', b'[{"out_id": "x"}]', b'[{"success": "maybe"}]',
                                  b"null"])
def test_garbage_is_a_400(client: TestClient, ledger: Ledger, body: bytes) -> None:
    answer = client.post(f"/callbacks/sms/{TOKEN}", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400


def test_oversized_body_is_refused(client: TestClient) -> None:
    body = json.dumps([report(err_msg="x" * 400)] * 3000).encode()
    assert client.post(f"/callbacks/sms/{TOKEN}", content=body).status_code == 413


def test_without_a_configured_token_every_receipt_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    settings = Settings(data_dir=tmp_path, sandboxes=False, channel_env={"push": {"sms_endpoint": "https://dysmsapi.aliyuncs.com/"}})
    with client_for(settings, ledger) as c:
        assert c.post("/callbacks/sms/", json=[report()]).status_code in (403, 404, 405)
        assert c.post(f"/callbacks/sms/{SANDBOX_CALLBACK_TOKEN}", json=[report()]).status_code == 403


def test_sandbox_mode_uses_the_sandbox_token(tmp_path: Path, ledger: Ledger) -> None:
    ledger.put("push", "dlv_known", sms_state="accepted")
    with client_for(Settings(data_dir=tmp_path), ledger) as c:
        assert c.post(f"/callbacks/sms/{SANDBOX_CALLBACK_TOKEN}", json=[report()]).status_code == 200
    assert ledger.get("push", "dlv_known")["receipt"]["success"] is True
