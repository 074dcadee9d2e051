"""The TEMPLATESENDJOBFINISH event (receipt of a WeChat template message), for adapters/wechat/callbacks.py
(template messages are sent by policy push, adapters/push/wechat_template.py; their receipts come here).

WeChat pushes it to the same signed server URL as PUBLISHJOBFINISH:
`<xml><ToUserName/><FromUserName>openid</FromUserName><CreateTime/><MsgType>event</MsgType>
<Event>TEMPLATESENDJOBFINISH</Event><MsgID>…</MsgID><Status>success | failed:user block |
failed: system failed</Status></xml>`. The receipt `{status, msgid, at}` goes into the facts of the
push delivery whose external_ref is `wechat_template:<MsgID>`; one that comes before the adapter
recorded the msgid is kept under `cb:wechat_template:<MsgID>`, where the sender's `check` looks too.
"""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from typing import Any

from persistence.ledger import Ledger

log = logging.getLogger("govcast.callbacks.wechat")

EVENT = "TEMPLATESENDJOBFINISH"
LEDGER_CHANNEL = "push"  # the receipts belong to policy push's deliveries (adapters/push/wechat_template.py)


def receipt_ref(msgid: str) -> str:
    """The ledger external_ref of a delivery WeChat accepted as `msgid` (set by the push adapter)."""
    return f"wechat_template:{msgid}"


def early_receipt_key(msgid: str) -> str:
    """Where the callback keeps a receipt that came before the delivery recorded its msgid."""
    return f"cb:wechat_template:{msgid}"[:64]


def parse_template_event(xml: bytes) -> dict[str, Any] | None:
    """`{status, msgid, at, openid}` of a TEMPLATESENDJOBFINISH event; None for any other message."""
    root = ET.fromstring(xml)
    if (root.findtext("Event") or "").strip() != EVENT:
        return None
    msgid = (root.findtext("MsgID") or "").strip()
    if not msgid:
        raise ValueError(f"{EVENT} without MsgID")
    created = (root.findtext("CreateTime") or "").strip()
    at = dt.datetime.fromtimestamp(int(created), dt.UTC) if created.isdigit() else dt.datetime.now(dt.UTC)
    return {"status": (root.findtext("Status") or "").strip(), "msgid": msgid, "at": at.isoformat(),
            "openid": (root.findtext("FromUserName") or "").strip()}


def record_template_receipt(ledger: Ledger, event: dict[str, Any]) -> None:
    receipt = {"status": event["status"], "msgid": event["msgid"], "at": event["at"]}
    found = ledger.by_external_ref(LEDGER_CHANNEL, receipt_ref(event["msgid"]))
    if found is None:
        ledger.put(LEDGER_CHANNEL, early_receipt_key(event["msgid"]), receipt=receipt)
        log.info("template message receipt for msgid %s before its delivery recorded it; kept", event["msgid"])
    else:
        ledger.put(LEDGER_CHANNEL, found[0], receipt=receipt)
        log.info("template message %s: receipt %r (%s)", event["msgid"], event["status"], found[0])
