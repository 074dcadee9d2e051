"""SMS to a business's mobile (Aliyun dysmsapi SendSms): a push sub-channel with delivery receipts.

`send`: one number, the approved signature and template, TemplateParam {title, reason, link} (each ≤ 35
characters; `link` is the part of the click link after `/go/`, the template holds the fixed part),
`OutId` = delivery id. The segment count is recorded in the ledger facts; over 500 characters is Rejected.
Aliyun does not deduplicate: `sms_state` ("sending" before the call, then "accepted" / "refused" /
"not_sent" / "unknown") is recorded around the call, and after a timeout or a crash mid-call the next
attempt looks for our OutId in QuerySendDetails before sending again — never twice.
`Code: OK` → Pending (sent, BizId); the receipt (SmsReport, stored as `receipt` by adapters/push/sms_callbacks.py)
decides in `check`; without one after `receipt_check_seconds`, QuerySendDetails is polled (SendStatus
3 delivered, 2 failed, 1 waiting); after `receipt_max_checks` checks the channel gives up (falls back).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from adapters.base import AdapterServices
from adapters.push.message import PushMessage
from adapters.push.pacing import TokenBucket
from adapters.push.short_links import allocate as allocate_code
from adapters.push.sms_client import CST, MAX_CHARS, SmsClient, SmsConfig, segments, variables
from adapters.push.sms_text import SmsPlan, plan_sms
from adapters.transport import MaybeSent, NotSent, TransportError
from schemas.delivery import Delivered, DeliveryResult, Pending, Rejected, Retryable, UnknownOutcome
from schemas.subscriber import PushChannel, Subscriber

log = logging.getLogger("govcast.push.sms")

LEDGER = "push"
FIRST_CHECK = 2.0  # seconds: receipts usually come within seconds
PAGE_SIZE = 50
MAX_PAGES = 20
RECONCILING = ("sending", "unknown")  # an earlier SendSms may have gone out
# Permanent for this channel (the adapter falls back to the business's next channel).
PERMANENT = {
    "isv.SMS_CONTENT_ILLEGAL": "the text contains content the platform forbids",
    "isv.SMS_SIGN_ILLEGAL": "the signature may not be used",
    "isv.SMS_SIGNATURE_ILLEGAL": "the signature is not approved",
    "isv.SMS_TEMPLATE_ILLEGAL": "the template is not approved",
    "isv.MOBILE_NUMBER_ILLEGAL": "the mobile number is not valid",
    "isv.DENY_IP_RANGE": "this server's IP region may not send mainland SMS",
    "isp.RAM_PERMISSION_DENY": "the AccessKey's RAM user lacks SMS permission (AliyunDysmsFullAccess)",
    "isv.OUT_OF_SERVICE": "the Aliyun account is suspended (balance exhausted)",
    "SignatureDoesNotMatch": "the request signature was refused (check the AccessKey secret)",
    "InvalidAccessKeyId.NotFound": "the AccessKey ID is unknown",
    "InvalidTimeStamp.Expired": "the request timestamp was refused (is this server's clock right?)",
}
DAY_LIMITS = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"})
MONTH_LIMITS = frozenset({"isv.MONTH_LIMIT_CONTROL"})
RETRY_SOON = ("Throttling", "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "ServiceUnavailable", "InternalError",
              "SignatureNonceUsed")


def seconds_to_next_day(now: dt.datetime) -> float:
    """Aliyun's daily limits reset at 00:00 Beijing time (Asia/Shanghai); one minute of margin."""
    local = now.astimezone(CST)
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), CST)
    return (tomorrow - local).total_seconds() + 60.0


def seconds_to_next_month(now: dt.datetime) -> float:
    local = now.astimezone(CST)
    first = dt.datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=CST)
    return (first - local).total_seconds() + 60.0


def classify(status: int, code: str, message: str, now: dt.datetime) -> DeliveryResult:
    """The typed outcome of an Aliyun answer other than `Code: OK` (nothing was sent)."""
    said = f"Aliyun SMS {code or f'HTTP {status}'}: {message}".rstrip(": ")
    if code in DAY_LIMITS:
        return Retryable(reason=f"daily sending limit reached, next try tomorrow ({said})", retry_after=seconds_to_next_day(now))
    if code in MONTH_LIMITS:
        return Retryable(reason=f"monthly sending limit reached, next try next month ({said})",
                         retry_after=seconds_to_next_month(now))
    if code in PERMANENT:
        return Rejected(reason=f"{PERMANENT[code]} ({said})", code=code)
    if code.startswith(RETRY_SOON) or status == 429:
        return Retryable(reason=f"the platform is busy ({said})", retry_after=30.0)
    if not code:
        return Retryable(reason=f"unreadable answer ({said})", retry_after=60.0)
    return Rejected(reason=f"refused by the platform ({said})", code=code)


def short_reason(reason: str) -> str:
    text = reason.removeprefix("推送原因：").strip().rstrip("。")
    return text or "符合您订阅的推送条件"


def template_values(msg: PushMessage, code: str) -> dict[str, str]:
    """Every variable a push template may name (adapters/push/sms_text.py picks and fits the template's)."""
    link = msg.link.split("/go/", 1)[1] if "/go/" in msg.link else msg.link
    reason = msg.validity_phrase if msg.is_lapse else short_reason(msg.reason)
    return {"kind": msg.label, "title": msg.subject or msg.title, "reason": reason, "link": link, "code": code}


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class SmsSender:
    channel: ClassVar[PushChannel] = PushChannel.sms

    def __init__(self, config: SmsConfig, services: AdapterServices) -> None:
        self.config = config
        self.ledger = services.ledger
        self.clock: Callable[[], dt.datetime] = services.clock  # the pipeline's: when quotas reset for the retry
        self.wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # the platform's: send dates, waits
        self.client = SmsClient(config)
        self.bucket = TokenBucket(config.rate_per_second)
        self._codes: dict[str, str] = {}  # publication id -> short-link code (adapters/push/short_links.py)

    def close(self) -> None:
        self.client.close()

    def template(self, msg: PushMessage) -> tuple[str, str]:
        """(template code, its text): lapse notices have their own approved template."""
        if msg.is_lapse:
            return self.config.lapse_template_code, self.config.lapse_template_text
        return self.config.template_code, self.config.template_text

    def plan(self, msg: PushMessage) -> SmsPlan:
        """The text as planned at render time, with the publication's short-link code (recorded for /s/<code>)."""
        code = self.short_code(msg.publication_id) if "code" in variables(self.template(msg)[1]) else ""
        return plan_sms(self.template(msg)[1], self.config.sign_name, template_values(msg, code))

    def short_code(self, publication_id: str) -> str:
        """Looked up once per publication and process (a push sends the same code to every business)."""
        code = self._codes.get(publication_id)
        if code is None:
            if len(self._codes) >= 1024:
                self._codes.clear()
            code = self._codes[publication_id] = allocate_code(self.ledger, publication_id)
        return code

    def send(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        if not sub.mobile:
            return Rejected(reason="no mobile number", code="no_contact")
        state = facts.get("sms_state")
        if state == "accepted":  # the platform has it already: wait for its receipt, never send again
            return Pending(reason="already accepted by Aliyun SMS; awaiting its receipt", check_after=FIRST_CHECK,
                           external_id=facts.get("sms_biz_id"))
        if state in RECONCILING:
            found = self._reconcile(sub.mobile, msg, facts)
            if found is not None:
                return found
        if not self.template(msg)[0]:
            return Rejected(reason="no approved SMS template for lapse notices is configured", code="not_configured")
        planned = self.plan(msg)
        params, length = planned.params, planned.chars
        if length > MAX_CHARS:
            return Rejected(reason=f"the SMS would have {length} characters (at most {MAX_CHARS})", code="too_long")
        wait = self.bucket.take(self.config.max_wait_seconds)
        if wait:
            return Retryable(reason=f"over the SMS rate of {self.config.rate_per_second:g}/s", retry_after=round(wait, 3))
        attempt = int(facts.get("sms_attempt") or 0) + 1
        self.ledger.put(LEDGER, msg.delivery_id, sms_attempt=attempt, sms_sent_at=self.wall().isoformat(),
                        sms_state="sending", sms_segments=segments(length), sms_chars=length,
                        **({"sms_warning": planned.warning} if planned.warning else {}))
        query = {"PhoneNumbers": sub.mobile, "SignName": self.config.sign_name, "TemplateCode": self.template(msg)[0],
                 "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
                 "OutId": msg.delivery_id}
        try:
            status, body = self.client.call("SendSms", query, idempotent=False)
        except NotSent as exc:
            self.ledger.put(LEDGER, msg.delivery_id, sms_state="not_sent", sms_error=exc.reason)
            return Retryable(reason=f"SendSms did not reach Aliyun: {exc.reason}", retry_after=30.0)
        except MaybeSent as exc:
            self.ledger.put(LEDGER, msg.delivery_id, sms_state="unknown", sms_error=exc.reason)
            if exc.reason.startswith("HTTP 5"):
                return Retryable(reason=f"Aliyun answered {exc.reason}; QuerySendDetails is checked before any resend",
                                 retry_after=30.0)
            return UnknownOutcome(reason=f"SendSms {exc.reason}: the SMS may have gone out; QuerySendDetails decides "
                                         "before any resend", reconcile_after=10.0)
        code, message = str(body.get("Code") or ""), str(body.get("Message") or "")
        biz_id = str(body.get("BizId") or "")
        if code == "OK" and biz_id:
            self.ledger.put(LEDGER, msg.delivery_id, sms_state="accepted", sms_biz_id=biz_id,
                            sms_accepted_at=self.wall().isoformat(), sms_checks=0)
            return Pending(reason=f"accepted by Aliyun SMS as BizId {biz_id} ({segments(length)} segment(s)); "
                                  "awaiting the delivery receipt", check_after=FIRST_CHECK, external_id=biz_id)
        self.ledger.put(LEDGER, msg.delivery_id, sms_state="refused", sms_error=f"{code or status}: {message}")
        return classify(status, code, message, self.clock())

    def check(self, sub: Subscriber, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult:
        biz_id = facts.get("sms_biz_id")
        receipt = facts.get("receipt")
        if isinstance(receipt, dict) and receipt.get("channel") == "sms" and (
                not biz_id or not receipt.get("biz_id") or receipt.get("biz_id") == biz_id):
            return self._receipt(receipt, facts)
        checks = int(facts.get("sms_checks") or 0) + 1
        self.ledger.put(LEDGER, msg.delivery_id, sms_checks=checks)
        now = self.wall()
        since = _time(facts.get("sms_accepted_at")) or _time(facts.get("sms_sent_at")) or now
        waited = (now - since).total_seconds()
        wait = self.config.receipt_check_seconds
        note = ""
        if waited >= wait and sub.mobile:  # no receipt by now: ask the platform
            try:
                record = self.find(sub.mobile, msg.delivery_id, since, biz_id)
            except TransportError as exc:
                record, note = None, f"; QuerySendDetails failed: {exc.reason}"
            if record is not None:
                done = self._record(record, msg.delivery_id, facts)
                if done is not None:
                    return done
        ref = f"BizId {biz_id}" if biz_id else f"OutId {msg.delivery_id}"
        if checks >= self.config.receipt_max_checks:
            return Rejected(reason=f"no delivery receipt for {ref} after {checks} checks ({waited / 60:.0f} min): "
                                   "gave up waiting (the SMS may still arrive)", code="no_receipt")
        after = min(wait, FIRST_CHECK * 2 ** checks) if waited < wait else wait
        return Pending(reason=f"awaiting the delivery receipt of {ref} (check {checks} of "
                              f"{self.config.receipt_max_checks}){note}", check_after=after, external_id=biz_id)

    # -- receipts, polling and reconciliation ------------------------------------------------

    def _receipt(self, receipt: dict[str, Any], facts: dict[str, Any]) -> DeliveryResult:
        code, said = str(receipt.get("err_code") or ""), str(receipt.get("err_msg") or "")
        if receipt.get("success") is True:
            return Delivered(detail=f"SMS receipt {code or 'DELIVERED'} ({facts.get('sms_segments', '?')} segment(s))",
                             external_id=receipt.get("biz_id") or facts.get("sms_biz_id"))
        return Rejected(reason=f"the SMS was not delivered: receipt {code} {said}".rstrip(), code="undelivered")

    def _record(self, record: dict[str, Any], delivery_id: str, facts: dict[str, Any]) -> DeliveryResult | None:
        """What a QuerySendDetails row says: delivered / failed, or None while the carrier has not answered."""
        status = str(record.get("SendStatus") or "1")
        if status not in ("2", "3"):
            return None
        receipt = {"channel": "sms", "success": status == "3",
                   "err_code": record.get("ErrCode") or ("DELIVERED" if status == "3" else ""),
                   "err_msg": "(QuerySendDetails)", "report_time": record.get("ReceiveDate"),
                   "biz_id": facts.get("sms_biz_id"), "source": "QuerySendDetails"}
        self.ledger.put(LEDGER, delivery_id, receipt=receipt)
        return self._receipt(receipt, facts)

    def find(self, phone: str, out_id: str, since: dt.datetime, biz_id: str | None = None) -> dict[str, Any] | None:
        """Our message (by OutId) among the number's messages of the days since `since`; None if not there."""
        days = sorted({since.astimezone(CST).strftime("%Y%m%d"), self.wall().astimezone(CST).strftime("%Y%m%d")})
        for day in days:
            for page in range(1, MAX_PAGES + 1):
                query = {"PhoneNumber": phone, "SendDate": day, "PageSize": str(PAGE_SIZE), "CurrentPage": str(page)}
                if biz_id:
                    query["BizId"] = biz_id
                status, body = self.client.call("QuerySendDetails", query, idempotent=True)
                if body.get("Code") != "OK":
                    raise TransportError(f"QuerySendDetails answered {body.get('Code') or f'HTTP {status}'}: "
                                         f"{body.get('Message', '')}")
                rows = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
                found = next((r for r in rows if isinstance(r, dict) and r.get("OutId") == out_id), None)
                if found is not None:
                    return found
                if len(rows) < PAGE_SIZE or page * PAGE_SIZE >= int(body.get("TotalCount") or 0):
                    break
        return None

    def _reconcile(self, phone: str, msg: PushMessage, facts: dict[str, Any]) -> DeliveryResult | None:
        """An earlier SendSms may have gone out: find it by OutId. None: it did not, send now."""
        now = self.wall()
        sent_at = _time(facts.get("sms_sent_at")) or now
        try:
            record = self.find(phone, msg.delivery_id, sent_at)
        except TransportError as exc:
            return UnknownOutcome(reason=f"could not check whether the earlier SendSms went out: {exc.reason}",
                                  reconcile_after=30.0)
        if record is not None:
            self.ledger.put(LEDGER, msg.delivery_id, sms_state="accepted", sms_reconciled=True,
                            sms_accepted_at=facts.get("sms_sent_at") or now.isoformat(), sms_checks=0)
            done = self._record(record, msg.delivery_id, facts)
            return done or Pending(reason="the earlier SendSms did go out (its OutId is in QuerySendDetails): not sent "
                                          "again; awaiting its receipt", check_after=FIRST_CHECK,
                                   external_id=facts.get("sms_biz_id"))
        waited = (now - sent_at).total_seconds()
        if waited < self.config.reconcile_grace_seconds:
            return UnknownOutcome(reason=f"the earlier SendSms is not in QuerySendDetails yet ({waited:.0f} s); looking "
                                         "again before any resend", reconcile_after=min(30.0, self.config.reconcile_grace_seconds))
        log.warning("SMS %s: the earlier SendSms is not at the platform after %.0f s; sending it now",
                    msg.delivery_id, waited)
        return None
