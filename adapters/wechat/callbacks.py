"""WeChat server callbacks (服务器配置 URL): URL verification, PUBLISHJOBFINISH and TEMPLATESENDJOBFINISH events.

Every request is signed: `signature = sha1("".join(sorted([Token, timestamp, nonce])))` in the
query string; unsigned or badly signed requests get 403 and change nothing. Plaintext mode
(the account's 消息加解密方式 set to 明文); the safe (AES) mode is not implemented.

A publish result is recorded in the adapters' ledger on the delivery whose `publish_id` it names
(`Ledger.by_external_ref`); the host's next check of that Pending delivery reads it (polling
freepublish/get is the fallback when no callback comes). A result that arrives before the
adapter recorded its publish_id is kept under `cb:<publish_id>`, where the adapter also looks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from adapters.common.install import Installation
from adapters.wechat.config import credentials
from adapters.wechat.template_receipts import parse_template_event, record_template_receipt
from persistence.ledger import Ledger

log = logging.getLogger("govcast.callbacks.wechat")

CHANNEL = "wechat"
MAX_BODY = 64 * 1024


def signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def parse_publish_event(xml: bytes) -> dict[str, Any] | None:
    """The PublishEventInfo of a PUBLISHJOBFINISH event, or None for any other message."""
    root = ET.fromstring(xml)
    if (root.findtext("Event") or "").strip() != "PUBLISHJOBFINISH":
        return None
    info = root.find("PublishEventInfo")
    if info is None:
        raise ValueError("PUBLISHJOBFINISH without PublishEventInfo")
    items = info.findall("article_detail/item")
    urls = [(it.findtext("idx") or "", it.findtext("article_url") or "") for it in items]
    return {
        "publish_id": (info.findtext("publish_id") or "").strip(),
        "publish_status": int(info.findtext("publish_status") or 1),
        "article_id": (info.findtext("article_id") or "").strip() or None,
        "article_url": next((url for _, url in sorted(urls) if url), None),
        "fail_idx": [int(x.text) for x in info.findall("fail_idx") if x.text and x.text.strip().isdigit()],
        "create_time": root.findtext("CreateTime"),
    }


def parse_mass_event(xml: bytes) -> dict[str, Any] | None:
    """A MASSSENDJOBFINISH event (adapters.wechat.mass_send): its MsgID, Status and article URLs by index."""
    root = ET.fromstring(xml)
    if (root.findtext("Event") or "").strip() != "MASSSENDJOBFINISH":
        return None
    urls = {(it.findtext("ArticleIdx") or "").strip(): (it.findtext("ArticleUrl") or "").strip()
            for it in root.findall("ArticleUrlResult/ResultList/item")}
    return {"msg_id": (root.findtext("MsgID") or "").strip(), "status": (root.findtext("Status") or "").strip(),
            "sent": root.findtext("SentCount"), "urls": {k: v for k, v in urls.items() if k and v}}


def wechat_callbacks(settings: Installation, ledger: Ledger) -> APIRouter:
    router = APIRouter()
    _, _, token = credentials(settings)  # empty (not configured, no sandbox): every callback is refused

    def verify(sig: str, timestamp: str, nonce: str) -> None:
        expected = signature(token.get_secret_value(), timestamp, nonce)
        if not (token.get_secret_value() and sig and timestamp and nonce and hmac.compare_digest(expected, sig)):
            raise HTTPException(status_code=403, detail="bad signature")

    def record(result: dict[str, Any]) -> None:
        found = ledger.by_external_ref(CHANNEL, result["publish_id"])
        if found is None:
            ledger.put(CHANNEL, f"cb:{result['publish_id']}"[:64], callback=result)
            log.info("publish result for %s before its delivery recorded it; kept", result["publish_id"])
        else:
            ledger.put(CHANNEL, found[0], callback=result)
            log.info("publish job %s finished with status %s (%s)", result["publish_id"], result["publish_status"], found[0])

    @router.get("", response_class=PlainTextResponse, summary="WeChat server URL verification (echostr)")
    def check(signature: str = Query(""), timestamp: str = Query(""), nonce: str = Query(""),
              echostr: str = Query("")) -> str:
        verify(signature, timestamp, nonce)
        return echostr

    @router.post("", response_class=PlainTextResponse, summary="WeChat event push (PUBLISHJOBFINISH, TEMPLATESENDJOBFINISH)")
    async def event(request: Request, signature: str = Query(""), timestamp: str = Query(""),
                    nonce: str = Query("")) -> str:
        verify(signature, timestamp, nonce)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="body too large")
        try:
            result = parse_publish_event(body)
            receipt = parse_template_event(body) if result is None else None
            mass = parse_mass_event(body) if result is None and receipt is None else None
        except (ET.ParseError, ValueError) as exc:
            raise HTTPException(status_code=400, detail=f"unreadable event: {exc}") from None
        if receipt is not None:  # TEMPLATESENDJOBFINISH: a template message's receipt (policy push)
            await run_in_threadpool(record_template_receipt, ledger, receipt)
            return "success"
        if mass is not None and mass["msg_id"]:  # read by the copies of that message when they are checked
            await run_in_threadpool(lambda: ledger.put(CHANNEL, f"massmsg:{mass['msg_id']}"[:64], callback=mass))
            return "success"
        if result is None or not result["publish_id"]:
            return "success"  # other events are not ours to handle; WeChat expects "success" (or "")
        await run_in_threadpool(record, result)
        return "success"

    return router
