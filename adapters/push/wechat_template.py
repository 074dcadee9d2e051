"""WeChat template messages (模板消息) to a business's follower: a push sub-channel with delivery receipts.

`POST /cgi-bin/message/template/send {touser, template_id, url, client_msg_id, data}` through the
official account's shared API client (adapters/wechat/api.py: access token, refresh on 40001/42001).
errcode 0 means WeChat accepted the message for a follower: `Pending` ("sent"). WeChat then pushes a
TEMPLATESENDJOBFINISH event (`Status` success | failed:user block | failed: system failed) to
/callbacks/wechat, which stores it as `receipt` in this delivery's ledger facts (or under
`cb:wechat_template:<msgid>` when it comes before the adapter recorded the msgid); `check` reads it.

Template values: since 4 May 2023 WeChat drops `first`/`remark`, colours and emoji, and shows at most
20 characters per field without line breaks; category templates (类目模板, keys like thing1) refuse
over-long values with 47003 (thing ≤ 20 chars, character_string ≤ 32, phrase ≤ 5 …). So every value is
flattened to one line and cut to its key type's limit with "…". The link is the message's `url`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from adapters.base import AdapterServices
from adapters.push.config import WechatTemplateConfig
from adapters.push.message import PushMessage
from adapters.push.pacing import TokenBucket
from adapters.transport import TransportError
from adapters.wechat.api import WechatApi, WechatError, classify, seconds_to_next_quota_day
from adapters.wechat.template_receipts import LEDGER_CHANNEL, early_receipt_key, receipt_ref
from schemas.delivery import Delivered, DeliveryResult, Pending, Rejected, Retryable
from schemas.subscriber import PushChannel, Subscriber

API = "/cgi-bin/message/template/send"
# Characters per value, by the type prefix of the data key (thing1 -> thing); others: the general 20.
FIELD_LIMITS = {"thing": 20, "keyword": 20, "character_string": 32, "number": 32, "letter": 32, "phrase": 5,
                "name": 10, "phone_number": 17, "car_number": 8, "symbol": 5}
DEFAULT_LIMIT = 20
FIRST_CHECK = 2.0  # seconds: receipts usually come within a second or two
# errcode -> (our code, explanation): permanent for this business on this channel, fall back to the next one
_RECIPIENT_ERRORS = {43004: ("not_following", "the user does not follow the official account"),
                     40003: ("invalid_openid", "invalid openid (not a follower of this account)"),
                     43101: ("user_refused", "the user refuses messages from the account")}
_RETRY_LATER = {-1: 5.0, 45011: 60.0, 45047: 60.0}  # busy, per-minute quota, 45047 out of response count limit


def limit_of(key: str) -> int:
    return FIELD_LIMITS.get(key.rstrip("0123456789"), DEFAULT_LIMIT)


def clip(value: str, limit: int) -> str:
    """One line (WeChat shows no line breaks), at most `limit` characters, "…" where it was cut."""
    flat = re.sub(r"\s+", " ", value).strip()
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def template_data(msg: PushMessage, fields: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The document's short name (a 20-character field cannot hold an official title), publisher, the why-line, what
    the item is and whom to call, into the template's keys (the template's labels name them)."""
    name = msg.subject or msg.title
    reason = msg.reason.removeprefix("推送原因：").rstrip("。") or "符合贵单位订阅的政策推送条件"
    values = [name, msg.publisher or "政府信息公开", reason, msg.label, msg.consult_phone or "12345"]
    if msg.is_lapse:  # the same template, saying what changed: 名称（已废止）, the notice instead of the why-line
        values = [f"{name}（{msg.validity_phrase}）", msg.publisher or "政府信息公开", msg.summary, "政策变更",
                  msg.consult_phone or "12345"]
    return {key: {"value": clip(value, limit_of(key))} for key, value in zip(fields, values, strict=False)}


class WechatTemplateSender:
    channel: ClassVar[PushChannel] = PushChannel.wechat_template

    def __init__(self, config: WechatTemplateConfig, services: AdapterServices) -> None:
        self.config = config
        self.ledger = services.ledger
        self.clock = services.clock
        self.api = WechatApi(config.account, services.ledger, services.clock)  # the wechat channel's token, shared
        self.bucket = TokenBucket(config.rate_per_second)

    def close(self) -> None:
        self.api.close()

    def body(self, sub: Subscriber, msg: PushMessage) -> dict[str, Any]:
        return {"touser": sub.wechat_openid, "template_id": self.config.template_id, "url": msg.link,
                "client_msg_id": msg.delivery_id, "data": template_data(msg, self.config.fields)}

    def send(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        if not sub.wechat_openid:
            return Rejected(reason="no WeChat openid", code="no_contact")
        self.bucket.acquire()
        try:
            # Idempotent: WeChat sends one message per (openid, client_msg_id) within 10 minutes, so the
            # transport's short retries after a timeout, and the retry below, cannot send it twice.
            answer = self.api.call(API, self.body(sub, msg), idempotent=True)
        except WechatError as exc:
            return self._refused(exc)
        except TransportError as exc:
            # The message may have been accepted. Sending again with the same client_msg_id is safe (WeChat
            # dedupes it and answers the same msgid), as long as it happens within the 10-minute window.
            return Retryable(reason=f"WeChat template send: {exc.reason}; resent with the same client_msg_id",
                             retry_after=30.0)
        msgid = str(answer.get("msgid") or "")
        if not msgid:
            return Retryable(reason="WeChat accepted the template message without a msgid", retry_after=30.0)
        now = self.clock().timestamp()
        # Recorded at once (the adapter records the same ref again) to narrow the window in which the
        # receipt finds no delivery; the callback covers the rest with early_receipt_key.
        self.ledger.put(LEDGER_CHANNEL, msg.delivery_id, external_ref=receipt_ref(msgid),
                        wechat_template={"msgid": msgid, "sent_at": now})
        return Pending(reason=f"accepted by WeChat (msgid {msgid}); waiting for its receipt",
                       check_after=min(FIRST_CHECK, self.config.receipt_wait_seconds), external_id=msgid)

    def _refused(self, exc: WechatError) -> DeliveryResult:
        said = f"WeChat template send errcode {exc.errcode}: {exc.errmsg}"
        if exc.errcode in _RECIPIENT_ERRORS:
            code, what = _RECIPIENT_ERRORS[exc.errcode]
            return Rejected(reason=f"{what} ({said})", code=code)
        if exc.errcode == 45009:  # the account's daily template quota (100k by default): after 00:00 Beijing time
            return Retryable(reason=f"daily template-message quota reached, deferred to the next quota day ({said})",
                             retry_after=seconds_to_next_quota_day(self.clock()))
        if exc.errcode in _RETRY_LATER:
            return Retryable(reason=f"try again later ({said})", retry_after=_RETRY_LATER[exc.errcode])
        return classify(exc, self.clock())  # configuration (40037 template id, 48001 …) and content (47003) errors

    def check(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        sent = facts.get("wechat_template") or {}
        msgid = str(sent.get("msgid") or "")
        if not msgid:  # accepted by another path that left no msgid: nothing to wait for
            return Delivered(detail="accepted by WeChat; no msgid recorded to match a receipt")
        receipt = facts.get("receipt") or self.ledger.get(LEDGER_CHANNEL, early_receipt_key(msgid)).get("receipt")
        if isinstance(receipt, dict) and str(receipt.get("msgid")) == msgid:
            result = self._receipt(msgid, str(receipt.get("status") or ""))
            if result is not None:
                return result
        now = self.clock().timestamp()
        sent_at = float(sent.get("sent_at") or now)
        wait = self.config.receipt_wait_seconds
        if now - sent_at >= wait:
            # WeChat has no API to query a template message's fate: the receipt is the only report, and
            # it can be lost (callback URL down, WeChat gives up after a few tries). errcode 0 meant the
            # openid follows the account and the message passed validation, so it almost always arrives;
            # failing it (or falling back) would push the same policy twice, and waiting longer would only
            # leave it "sent" until the host gives up. So: delivered, saying it was not confirmed.
            return Delivered(detail=f"accepted by WeChat (msgid {msgid}), no receipt within {wait:g} s",
                             external_id=msgid)
        # Check again after as long as it has waited so far (2, 4, 8 … s): a bounded number of checks.
        elapsed = max(now - sent_at, FIRST_CHECK)
        return Pending(reason=f"accepted by WeChat (msgid {msgid}); waiting for its receipt",
                       check_after=min(elapsed, sent_at + wait - now), external_id=msgid)

    @staticmethod
    def _receipt(msgid: str, status: str) -> DeliveryResult | None:
        """The receipt's verdict; None for a status this code does not know (then it waits as without one)."""
        said = f"receipt {status!r} for msgid {msgid}"
        if status == "success":
            return Delivered(detail=f"delivered (WeChat {said})", external_id=msgid)
        if "user block" in status:
            return Rejected(reason=f"the user blocks messages from the official account ({said})", code="user_block")
        if "system failed" in status:
            return Rejected(reason=f"WeChat failed to deliver ({said})", code="system_failed")
        if status.startswith("failed"):
            return Rejected(reason=f"WeChat failed to deliver ({said})", code="receipt_failed")
        return None

