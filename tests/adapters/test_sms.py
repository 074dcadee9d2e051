"""SMS push channel (Aliyun dysmsapi SendSms) against the SMS sandbox over real HTTP, receipts included."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.push.message import PushMessage
from adapters.push.pacing import TokenBucket
from adapters.push.short_links import resolve
from adapters.push.sms import SmsSender, seconds_to_next_day, seconds_to_next_month, template_values
from adapters.push.sms_client import (
    SANDBOX_SIGN_NAME,
    SmsClient,
    canonical_query,
    percent_encode,
    segments,
    signature,
    signed,
    sms_length,
    string_to_sign,
)
from adapters.push.sms_text import plan_sms
from govcast.sinks import SmtpSink
from schemas.delivery import Delivered, Pending, Rejected, Retryable, UnknownOutcome
from schemas.subscriber import PushChannel
from tests.adapters.newmedia_support import later, wait_until
from tests.adapters.newmedia_support import publication as newmedia_publication
from tests.adapters.sms_support import Served, SmsPlatform, encode, rpc, sign, subscribe, task_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[SmsPlatform]:
    server = SmsPlatform(tmp_path).start()
    yield server
    server.stop()


def publication(**changes: Any) -> Any:
    return newmedia_publication(targeting={"regions": ["历下区"]}, channels=["push"], **changes)


def receipt_of(platform: SmsPlatform, delivery_id: str) -> dict[str, Any]:
    return wait_until(lambda: platform.ledger.get("push", delivery_id).get("receipt"))  # type: ignore[no-any-return]


# -- the contract's pieces ----------------------------------------------------------------------

def test_signature_matches_aliyuns_documented_examples() -> None:
    ecs = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
           "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
           "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
    assert string_to_sign(ecs) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
    assert signature("testsecret", ecs) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    send_sms = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
                "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
                "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
                "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}',
                "Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25"}
    assert signature("testSecret", send_sms) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert signature("testSecret", {**send_sms, "Signature": "ignored"}) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signature_agrees_with_an_independent_implementation(method: str) -> None:
    params = signed("SendSms", {"SignName": "政策 推送*~", "TemplateParam": '{"a":"b c/d+e"}', "OutId": "x!'()"},
                    key_id="k", secret="s3cr3t", method=method, at=1_700_000_000, nonce="n-1")
    assert params["Signature"] == sign("s3cr3t", {k: v for k, v in params.items() if k != "Signature"}, method)
    assert params["Timestamp"] == "2023-11-14T22:13:20Z"


def test_percent_encoding_is_rfc3986() -> None:
    for text in ("a b*c~d/é", "-_.~!'()", "政策+&=%"):
        assert percent_encode(text) == encode(text)
    assert percent_encode("a b*~") == "a%20b%2A~"
    assert canonical_query({"b": "2 3", "a": "*"}) == "a=%2A&b=2%203"


@pytest.mark.parametrize(("chars", "expected"), [
    (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (500, 8)])
def test_segments(chars: int, expected: int) -> None:
    assert segments(chars) == expected


def test_length_counts_the_signature_in_brackets() -> None:
    assert sms_length("政策推送沙箱", "") == 8
    assert sms_length("ab", "x" * 66) == 70 and segments(sms_length("ab", "x" * 66)) == 1
    assert segments(sms_length("ab", "x" * 67)) == 2


def test_template_values_are_short_and_link_free() -> None:
    msg = PushMessage(delivery_id="dlv_1", publication_id="pub_1", version=1, title="关于" + "促进民营经济发展" * 6 + "的若干措施",
                      publisher="济南市人民政府", doc_no="", summary="", reason="推送原因：注册地在历下区。", url="",
                      link="http://gov.test/go/pub_0123456789abcdef0123?c=sms", unsubscribe_url="",
                      unsubscribe_all_url="", sent_at=0)
    old_style = plan_sms("《${title}》推送原因：${reason}。详见 http://gov.test/go/${link}", "政策推送沙箱",
                         template_values(msg, "AbC123"))
    assert len(old_style.params["title"]) == 35 and old_style.params["title"].endswith("…") and old_style.warning
    assert old_style.params["reason"] == "注册地在历下区"
    assert old_style.params["link"] == "pub_0123456789abcdef0123?c=sms"
    assert plan_sms("${kind}：${code}", "s", template_values(msg, "AbC123")).params == {"kind": "政策文件", "code": "AbC123"}


def test_token_bucket_waits_briefly_or_says_how_long() -> None:
    now, slept = [0.0], []
    bucket = TokenBucket(2.0, clock=lambda: now[0], sleep=slept.append)
    assert bucket.take(0) == 0 and bucket.take(0) == 0
    assert bucket.take(0.1) == pytest.approx(0.5)  # over the rate: nothing taken
    assert bucket.take(1.0) == 0 and slept == [pytest.approx(0.5)]  # waits in-call
    assert bucket.take(0.1) == pytest.approx(1.0)  # queued behind the reservation
    now[0] = 10.0
    assert bucket.take(0) == 0


def test_next_day_and_month_are_beijing_time() -> None:
    now = dt.datetime(2025, 1, 31, 15, 30, tzinfo=dt.UTC)  # 23:30 in Beijing
    assert seconds_to_next_day(now) == pytest.approx(30 * 60 + 60)
    assert seconds_to_next_month(now) == pytest.approx(30 * 60 + 60)
    assert seconds_to_next_month(dt.datetime(2025, 12, 15, tzinfo=dt.UTC)) > 16 * 86400


# -- the channel against the sandbox ------------------------------------------------------------

def test_sent_then_receipt_says_delivered(platform: SmsPlatform) -> None:
    push = platform.push()
    sub = subscribe(push, 1, "sms")
    pub = publication()
    task = task_for(pub, sub.credit_code, platform.url)
    sent = push.deliver(task)
    assert isinstance(sent, Pending) and sent.external_id
    facts = platform.ledger.get("push", task.delivery_id)
    assert facts["awaiting"] == "sms" and facts["sms_state"] == "accepted" and facts["sms_biz_id"] == sent.external_id
    assert platform.ledger.by_external_ref("push", f"sms:{sent.external_id}")[0] == task.delivery_id  # type: ignore[index]
    assert push.store.recipient_state(task.delivery_id) == "sent"
    [message] = platform.inspect()["messages"]
    assert message["phone"] == sub.mobile and message["sign"] == SANDBOX_SIGN_NAME
    assert message["out_id"] == task.delivery_id and message["biz_id"] == sent.external_id
    code = message["params"]["code"]
    assert message["content"].endswith(f"{platform.url}/s/{code}") and resolve(platform.ledger, code) == pub.id
    assert message["params"] == {"kind": "政策文件", "title": "2025年济南市政务公开工作要点", "code": code}
    assert message["segments"] == facts["sms_segments"] == segments(len(message["content"])) == 1
    receipt = receipt_of(platform, task.delivery_id)
    assert receipt["success"] is True and receipt["err_code"] == "DELIVERED"
    done = push.deliver(later(task, checks=1))
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("sms: SMS receipt DELIVERED")
    assert push.store.recipient_state(task.delivery_id) == "delivered"
    assert isinstance(push.deliver(later(task, checks=2)), Delivered)
    assert len(platform.inspect()["messages"]) == 1
    # The sandbox records its receipt once govcast has answered the POST, a moment after the ledger has it.
    [report] = wait_until(lambda: platform.inspect()["receipts"])
    assert report["ok"] and report["out_ids"] == [task.delivery_id]


def test_failed_receipt_falls_back_to_email(platform: SmsPlatform, smtp: SmtpSink) -> None:
    push = platform.push(smtp)
    sub = subscribe(push, 2, "sms|email")
    platform.undeliverable(sub.mobile or "")
    task = task_for(publication(), sub.credit_code, platform.url)
    assert isinstance(push.deliver(task), Pending)
    assert receipt_of(platform, task.delivery_id)["success"] is False
    done = push.deliver(later(task, checks=1))
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("email")
    facts = platform.ledger.get("push", task.delivery_id)
    assert facts["failed"] == ["sms"] and "MK:0001" in facts["error_sms"] and facts["delivered_via"] == "email"
    assert len(smtp.store.messages) == 1


def test_dropped_receipts_are_resolved_by_query_send_details(platform: SmsPlatform) -> None:
    platform.faults(drop_receipts=True)
    push = platform.push(receipt_check_seconds=0.2)
    sub = subscribe(push, 3, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    assert isinstance(push.deliver(task), Pending)
    wait_until(lambda: platform.inspect()["messages"][0]["status"] == "delivered")
    done = push.deliver(later(task, checks=1))
    assert isinstance(done, Delivered), done
    facts = platform.ledger.get("push", task.delivery_id)
    assert facts["receipt"]["source"] == "QuerySendDetails" and platform.inspect()["receipts"] == []


def test_no_receipt_at_all_gives_up_after_bounded_checks(platform: SmsPlatform, smtp: SmtpSink) -> None:
    platform.faults(drop_receipts=True, receipt_delay_seconds=3600)
    push = platform.push(smtp, receipt_check_seconds=0.01, receipt_max_checks=3)
    sub = subscribe(push, 4, "sms|email")
    task = task_for(publication(), sub.credit_code, platform.url)
    assert isinstance(push.deliver(task), Pending)
    for n in (1, 2):
        waiting = push.deliver(later(task, checks=n))
        assert isinstance(waiting, Pending) and f"check {n} of 3" in waiting.reason
    done = push.deliver(later(task, checks=3))
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("email")
    assert "no delivery receipt" in platform.ledger.get("push", task.delivery_id)["error_sms"]


def test_timeout_is_reconciled_without_a_second_message(platform: SmsPlatform) -> None:
    platform.faults(timeout=1, delay_seconds=1.5)
    push = platform.push(timeout_seconds=0.5)
    sub = subscribe(push, 5, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    first = push.deliver(task)
    assert isinstance(first, UnknownOutcome)
    assert platform.ledger.get("push", task.delivery_id)["sms_state"] == "unknown"
    # The client gave up after 0.5 s; on a loaded machine the sandbox may record the SendSms only later. Retry
    # once it has (as the platform would have it by the retry, minutes later): no timing assumption.
    wait_until(lambda: platform.inspect()["messages"])
    again = push.deliver(later(task, attempt=2))  # finds its OutId in QuerySendDetails: no second SendSms
    assert isinstance(again, Pending | Delivered), again
    if isinstance(again, Pending):
        receipt_of(platform, task.delivery_id)
        again = push.deliver(later(task, attempt=2, checks=1))
    assert isinstance(again, Delivered)
    assert len(platform.inspect()["messages"]) == 1
    assert platform.ledger.get("push", task.delivery_id)["sms_reconciled"] is True


def test_unknown_outcome_not_yet_visible_waits_then_sends_once(platform: SmsPlatform) -> None:
    push = platform.push(reconcile_grace_seconds=3600)
    sub = subscribe(push, 6, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    now = dt.datetime.now(dt.UTC).isoformat()
    platform.ledger.put("push", task.delivery_id, sms_state="sending", sms_sent_at=now, sms_attempt=1)  # crashed mid-call
    waiting = push.deliver(task)
    assert isinstance(waiting, UnknownOutcome) and "not in QuerySendDetails yet" in waiting.reason
    assert platform.inspect()["messages"] == []
    impatient = platform.push(reconcile_grace_seconds=0)
    assert isinstance(impatient.deliver(later(task, attempt=2)), Pending)
    assert len(platform.inspect()["messages"]) == 1


def test_business_limit_defers_to_the_next_beijing_day(platform: SmsPlatform) -> None:
    platform.faults(business_limit=1)
    push = platform.push()
    sub = subscribe(push, 7, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    result = push.deliver(task)
    local = dt.datetime.now(SHANGHAI)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), SHANGHAI)
    assert isinstance(result, Retryable) and "isv.BUSINESS_LIMIT_CONTROL" in result.reason
    assert abs(result.retry_after - (midnight - local).total_seconds()) < 120
    assert platform.inspect()["messages"] == []
    assert isinstance(push.deliver(later(task, attempt=2)), Pending)


def test_month_limit_defers_to_the_next_month(platform: SmsPlatform) -> None:
    platform.faults(month_limit=1)
    push = platform.push()
    sub = subscribe(push, 8, "sms")
    result = push.deliver(task_for(publication(), sub.credit_code, platform.url))
    local = dt.datetime.now(SHANGHAI)
    first = dt.datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=SHANGHAI)
    assert isinstance(result, Retryable) and abs(result.retry_after - (first - local).total_seconds()) < 120


def test_fifty_notifications_a_day_per_number_sign_and_template(platform: SmsPlatform) -> None:
    client = SmsClient(platform.sms_config())
    config = platform.sms_config()
    params = {"PhoneNumbers": "13900009999", "SignName": config.sign_name, "TemplateCode": config.template_code,
              "TemplateParam": json.dumps({"kind": "k", "title": "t", "code": "pub_x"})}
    answers = [client.call("SendSms", params, idempotent=False)[1]["Code"] for _ in range(51)]
    assert answers[:50] == ["OK"] * 50 and answers[50] == "isv.BUSINESS_LIMIT_CONTROL"
    platform.advance(86400)
    assert client.call("SendSms", params, idempotent=False)[1]["Code"] == "OK"
    client.close()


@pytest.mark.parametrize(("fault", "code"), [
    ({"content_illegal": 1}, "isv.SMS_CONTENT_ILLEGAL"), ({"sign_illegal": 1}, "isv.SMS_SIGN_ILLEGAL"),
    ({"out_of_service": True}, "isv.OUT_OF_SERVICE"), ({"deny_ip": 1}, "isv.DENY_IP_RANGE"),
    ({"ram_denied": 1}, "isp.RAM_PERMISSION_DENY"), ({"mobile_illegal": 1}, "isv.MOBILE_NUMBER_ILLEGAL")])
def test_permanent_errors_fall_back_to_the_next_channel(platform: SmsPlatform, smtp: SmtpSink,
                                                        fault: dict[str, Any], code: str) -> None:
    platform.faults(**fault)
    push = platform.push(smtp)
    sub = subscribe(push, 9, "sms|email")
    task = task_for(publication(), sub.credit_code, platform.url)
    done = push.deliver(task)
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("email")
    assert code in platform.ledger.get("push", task.delivery_id)["error_sms"]
    assert platform.inspect()["messages"] == [] and len(smtp.store.messages) == 1


def test_sms_only_business_is_rejected_with_the_reason(platform: SmsPlatform) -> None:
    platform.faults(content_illegal=1)
    push = platform.push()
    sub = subscribe(push, 10, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    result = push.deliver(task)
    assert isinstance(result, Rejected) and result.code == "all_channels_failed"
    assert "forbids" in platform.ledger.get("push", task.delivery_id)["error_sms"]


@pytest.mark.parametrize("fault", ["throttling", "server_error"])
def test_throttling_and_5xx_retry_and_never_send_twice(platform: SmsPlatform, fault: str) -> None:
    platform.faults(**{fault: 1})
    push = platform.push(reconcile_grace_seconds=0)
    sub = subscribe(push, 11, "sms")
    task = task_for(publication(), sub.credit_code, platform.url)
    result = push.deliver(task)
    assert isinstance(result, Retryable), result
    assert isinstance(push.deliver(later(task, attempt=2)), Pending)
    assert len(platform.inspect()["messages"]) == 1


def test_over_500_characters_is_rejected_before_sending(platform: SmsPlatform, smtp: SmtpSink) -> None:
    push = platform.push(smtp, template_text="政策" * 240 + "${title}${reason}${link}")
    sub = subscribe(push, 12, "sms|email")
    task = task_for(publication(), sub.credit_code, platform.url)
    done = push.deliver(task)
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("email")
    assert "at most 500" in platform.ledger.get("push", task.delivery_id)["error_sms"]
    assert platform.inspect()["messages"] == []


def test_rate_limit_over_the_bound_is_retryable(platform: SmsPlatform) -> None:
    push = platform.push(rate_per_second=0.01, max_wait_seconds=0)
    assert isinstance(push.senders[PushChannel.sms], SmsSender)
    first = subscribe(push, 13, "sms")
    second = subscribe(push, 14, "sms")
    pub = publication()
    assert isinstance(push.deliver(task_for(pub, first.credit_code, platform.url)), Pending)
    result = push.deliver(task_for(pub, second.credit_code, platform.url))
    assert isinstance(result, Retryable) and "rate" in result.reason and result.retry_after > 50


# -- the sandbox's gateway ------------------------------------------------------------------------

def test_sandbox_refuses_bad_signatures_stale_timestamps_and_replays(platform: SmsPlatform) -> None:
    query = {"PhoneNumber": "13900000001", "SendDate": dt.datetime.now(SHANGHAI).strftime("%Y%m%d"), "PageSize": "10",
             "CurrentPage": "1"}
    ok = rpc(platform.endpoint, "QuerySendDetails", query, nonce="nonce-1")
    assert ok.status_code == 200 and ok.json()["Code"] == "OK" and ok.headers["x-govcast-sandbox"] == "sms"
    replay = rpc(platform.endpoint, "QuerySendDetails", query, nonce="nonce-1")
    assert replay.status_code == 400 and replay.json()["Code"] == "SignatureNonceUsed"
    bad = rpc(platform.endpoint, "QuerySendDetails", query, secret="wrong")
    assert bad.status_code == 400 and bad.json()["Code"] == "SignatureDoesNotMatch"
    assert "server string to sign is:GET&%2F&AccessKeyId%3D" in bad.json()["Message"]
    stale = rpc(platform.endpoint, "QuerySendDetails", query, at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert stale.status_code == 400 and stale.json()["Code"] == "InvalidTimeStamp.Expired"
    version = rpc(platform.endpoint, "QuerySendDetails", query, Version="2016-09-27")
    assert version.status_code == 400 and version.json()["Code"] == "InvalidVersion"
    key = rpc(platform.endpoint, "QuerySendDetails", query, key_id="LTAI-nobody")
    assert key.status_code == 404 and key.json()["Code"] == "InvalidAccessKeyId.NotFound"
    assert rpc(platform.endpoint, "QuerySendDetails", query, method="POST").json()["Code"] == "OK"
    assert rpc(platform.endpoint, "QuerySendDetails", query, method="POST", sign_as="GET").json()["Code"] == \
        "SignatureDoesNotMatch"
    missing = rpc(platform.endpoint, "QuerySendDetails", {k: v for k, v in query.items() if k != "SendDate"})
    assert missing.status_code == 400 and missing.json()["Code"] == "MissingSendDate"


def test_sandbox_checks_template_params(platform: SmsPlatform) -> None:
    config = platform.sms_config()
    base = {"PhoneNumbers": "13900000002", "SignName": config.sign_name, "TemplateCode": config.template_code}

    def send(**changes: str) -> str:
        return str(rpc(platform.endpoint, "SendSms", {**base, **changes}).json()["Code"])

    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t"})) == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t", "code": "http://x.cn/a"})) == \
        "isv.PARAM_NOT_SUPPORT_URL"
    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t" * 36, "code": "a"})) == "isv.PARAM_LENGTH_LIMIT"
    assert send(TemplateParam="{not json") == "isv.INVALID_JSON_PARAM"
    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t", "code": "a"}), SignName="别人的签名") == \
        "isv.SMS_SIGNATURE_ILLEGAL"
    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t", "code": "a"}), TemplateCode="SMS_1") == \
        "isv.SMS_TEMPLATE_ILLEGAL"
    assert send(TemplateParam=json.dumps({"kind": "k", "title": "t", "code": "a"}), PhoneNumbers="12345") == \
        "isv.MOBILE_NUMBER_ILLEGAL"
    assert platform.inspect()["messages"] == []


def test_query_send_details_pages_and_filters_by_biz_id(platform: SmsPlatform) -> None:
    client = SmsClient(platform.sms_config())
    config = platform.sms_config()
    biz = []
    for n in range(3):
        _, body = client.call("SendSms", {"PhoneNumbers": "13900000003", "SignName": config.sign_name,
                                          "TemplateCode": config.template_code, "OutId": f"out-{n}",
                                          "TemplateParam": json.dumps({"kind": "k", "title": "t", "code": "a"})},
                              idempotent=False)
        biz.append(body["BizId"])
    day = dt.datetime.now(SHANGHAI).strftime("%Y%m%d")
    _, page = client.call("QuerySendDetails", {"PhoneNumber": "13900000003", "SendDate": day, "PageSize": "2",
                                               "CurrentPage": "1"}, idempotent=True)
    rows = page["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
    assert page["TotalCount"] == 3 and len(rows) == 2
    assert set(rows[0]) == {"PhoneNum", "SendStatus", "ErrCode", "TemplateCode", "Content", "SendDate", "ReceiveDate",
                            "OutId"}
    _, one = client.call("QuerySendDetails", {"PhoneNumber": "13900000003", "SendDate": day, "PageSize": "10",
                                              "CurrentPage": "1", "BizId": biz[1]}, idempotent=True)
    assert [r["OutId"] for r in one["SmsSendDetailDTOs"]["SmsSendDetailDTO"]] == ["out-1"]
    _, bad = client.call("QuerySendDetails", {"PhoneNumber": "13900000003", "SendDate": day, "PageSize": "51",
                                              "CurrentPage": "1"}, idempotent=True)
    assert bad["Code"] == "isv.INVALID_PARAMETERS"
    client.close()


def test_receipts_are_retried_at_1_5_10_minutes(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from adapters.push.sms_sandbox import sms_sandbox
    from settings import Settings

    calls: list[list[dict[str, Any]]] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            good = len(calls) >= 3
            body = b'{"code":0,"msg":"ok"}' if good else b'{"code":1}'
            self.send_response(200 if good else 500)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    Thread(target=receiver.serve_forever, daemon=True).start()
    settings = Settings(data_dir=tmp_path, public_url=f"http://127.0.0.1:{receiver.server_address[1]}")
    sandbox = Served(sms_sandbox(settings)).start()
    try:
        url = sandbox.url
        params = {"PhoneNumbers": "13900000004", "SignName": SANDBOX_SIGN_NAME, "TemplateCode": "SMS_900000001",
                  "OutId": "dlv_retry", "TemplateParam": json.dumps({"kind": "k", "title": "t", "code": "a"})}
        signed_call = rpc(f"{url}/", "SendSms", params)
        assert signed_call.json()["Code"] == "OK", signed_call.text

        def control(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            import requests
            reply = requests.post(f"{url}/{path}", json=body, timeout=5) if body is not None else \
                requests.get(f"{url}/{path}", timeout=5)
            return reply.json()  # type: ignore[no-any-return]

        wait_until(lambda: len(control("_inspect")["receipts"]) == 1)
        # The sandbox clock also runs in real time: 50 s leaves a loaded machine 10 s before the retry is due.
        control("_clock", {"advance_seconds": 50})
        assert len(control("_inspect")["receipts"]) == 1
        control("_clock", {"advance_seconds": 10})
        wait_until(lambda: len(control("_inspect")["receipts"]) == 2)
        control("_clock", {"advance_seconds": 240})
        wait_until(lambda: len(control("_inspect")["receipts"]) == 3)
        control("_clock", {"advance_seconds": 3600})
        tries = control("_inspect")["receipts"]
        assert [(r["attempt"], r["ok"]) for r in tries] == [(1, False), (2, False), (3, True)]
        at = [dt.datetime.fromisoformat(r["at"]) for r in tries]  # sandbox clock, whole seconds
        assert (at[1] - at[0]).total_seconds() >= 60 and (at[2] - at[0]).total_seconds() >= 300
        assert calls[0][0]["out_id"] == "dlv_retry" and calls[0][0]["err_code"] == "DELIVERED"
        assert set(calls[0][0]) == {"phone_number", "send_time", "report_time", "success", "err_code", "err_msg",
                                    "sms_size", "biz_id", "out_id"}
    finally:
        sandbox.stop()
        receiver.shutdown()


def test_sandbox_keeps_its_messages_across_restarts(tmp_path: Path) -> None:
    first = SmsPlatform(tmp_path).start()
    try:
        push = first.push()
        sub = subscribe(push, 15, "sms")
        assert isinstance(push.deliver(task_for(publication(), sub.credit_code, first.url)), Pending)
        wait_until(lambda: (tmp_path / "sandboxes" / "sms.json").exists()
                   and "delivered" in (tmp_path / "sandboxes" / "sms.json").read_text())
    finally:
        first.stop()
    second = SmsPlatform(tmp_path).start()
    try:
        [message] = second.inspect()["messages"]
        assert message["phone"] == sub.mobile and message["status"] == "delivered"
    finally:
        second.stop()
