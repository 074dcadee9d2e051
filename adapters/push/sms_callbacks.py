"""Aliyun SMS delivery receipts (SmsReport, HTTP batch push) at /callbacks/sms/{token}.

Aliyun's HTTP push carries no signature: the receipt URL registered in the Aliyun console holds an
unguessable token (`GOVCAST_PUSH_SMS_CALLBACK_TOKEN`; the sandbox's token in sandbox mode), compared in
constant time; a wrong or missing token gets 403 and changes nothing. The body is a JSON array of
`{phone_number, send_time, report_time, success, err_code, err_msg, sms_size, biz_id, out_id}`.
Each report is stored as `receipt` in the facts of its delivery (ledger channel "push", key = out_id,
our delivery id; else the delivery whose external ref is `sms:<biz_id>`); the sender's next check
reads it. Unknown ids are logged and acknowledged. Answer: 200 `{"code": 0, "msg": "成功"}` (anything
else makes Aliyun push the batch again later).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from adapters.common.install import Installation
from adapters.push.sms_client import sms_callback_token
from persistence.ledger import Ledger

log = logging.getLogger("govcast.callbacks.sms")

LEDGER = "push"
MAX_BODY = 1024 * 1024  # Aliyun pushes receipts in batches
MAX_REPORTS = 5000


class SmsReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phone_number: str = Field(default="", max_length=32)
    send_time: str | None = Field(default=None, max_length=40)
    report_time: str | None = Field(default=None, max_length=40)
    success: bool
    err_code: str = Field(default="", max_length=64)
    err_msg: str = Field(default="", max_length=500)
    sms_size: str | int | None = None
    biz_id: str = Field(default="", max_length=64)
    out_id: str = Field(default="", max_length=256)


REPORTS = TypeAdapter(list[SmsReport])


def record(ledger: Ledger, report: SmsReport) -> str | None:
    """Store the receipt on its delivery; the delivery id, or None when the ids are unknown here."""
    receipt: dict[str, Any] = {"channel": "sms", "success": report.success, "err_code": report.err_code,
                               "err_msg": report.err_msg, "report_time": report.report_time, "biz_id": report.biz_id}
    delivery_id = None
    if report.out_id and len(report.out_id) <= 64 and ledger.get(LEDGER, report.out_id):
        delivery_id = report.out_id
    elif report.biz_id:
        found = ledger.by_external_ref(LEDGER, f"sms:{report.biz_id}")
        delivery_id = found[0] if found else None
    if delivery_id is None:
        log.warning("SMS receipt for unknown ids (out_id %r, biz_id %r): acknowledged, not recorded",
                    report.out_id, report.biz_id)
        return None
    ledger.put(LEDGER, delivery_id, receipt=receipt)
    log.info("SMS receipt %s for %s (BizId %s)", report.err_code or report.success, delivery_id, report.biz_id)
    return delivery_id


def sms_callbacks(settings: Installation, ledger: Ledger) -> APIRouter:
    router = APIRouter()
    expected = sms_callback_token(settings).get_secret_value().encode()  # empty: every receipt is refused

    @router.post("/{token}", summary="Aliyun SMS delivery receipts (SmsReport)")
    async def receipts(token: str, request: Request) -> dict[str, Any]:
        if not expected or not hmac.compare_digest(token.encode(), expected):
            raise HTTPException(status_code=403, detail="unknown receipt URL")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="body too large")
        try:
            reports = REPORTS.validate_python(json.loads(body))
        except (ValueError, ValidationError) as exc:
            raise HTTPException(status_code=400, detail=f"not an SmsReport array: {str(exc)[:300]}") from None
        if len(reports) > MAX_REPORTS:
            raise HTTPException(status_code=413, detail=f"more than {MAX_REPORTS} reports")
        for report in reports:
            await run_in_threadpool(record, ledger, report)
        return {"code": 0, "msg": "成功"}

    return router
