"""Policy push by WeChat template message, over real HTTP: the WeChat sandbox and govcast's signed callback
route on one loopback port (tests/adapters/newmedia_support.Platforms), a real webhook receiver and SMTP server
for the fallbacks."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.base import AdapterServices
from adapters.push import PushAdapter, PushConfig
from adapters.push.config import push_config, wechat_template_config
from adapters.push.pacing import TokenBucket
from adapters.push.render import render_push
from adapters.push.wechat_template import WechatTemplateSender, clip, early_receipt_key, template_data
from adapters.wechat.config import SANDBOX_TEMPLATE_ID
from govcast.sinks import SmtpSink
from schemas.delivery import Action, Delivered, DeliveryTask, Pending, Rejected, Retryable, delivery_id
from schemas.publication import Publication
from schemas.subscriber import PushChannel, Subscriber, SubscriberIn
from settings import Settings
from tests.adapters.newmedia_support import Platforms, later, wait_until
from tests.adapters.newmedia_support import publication as newmedia_publication
from tests.push_support import Receiver, business

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CALLBACK_TOKEN = "sandbox-callback-token"


class Clock:
    """The adapters' clock, movable (the receipt wait), otherwise real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    server = Platforms(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_push(platforms: Platforms, smtp: SmtpSink, clock: Clock) -> Iterator[Any]:
    made: list[PushAdapter] = []

    def make(timeout: float | None = None, **changes: Any) -> PushAdapter:
        template = wechat_template_config(platforms.settings)
        assert template is not None and template.sandbox
        if timeout is not None:
            changes["account"] = template.account.model_copy(update={"timeout_seconds": timeout})
        config = PushConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, quiet_channels=(),
                            wechat_template=template.model_copy(update=changes), webhook_allowed_networks=("127.0.0.1/32",))
        adapter = PushAdapter(config, AdapterServices(ledger=platforms.ledger, public_url=platforms.url, clock=clock))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def push(make_push: Any) -> PushAdapter:
    return make_push()  # type: ignore[no-any-return]


def openid(n: int) -> str:
    return f"oGovcastTest{n:016d}"  # 28 characters, like WeChat's


def subscribe(push: PushAdapter, receiver: Receiver, n: int, channels: str, **changes: Any) -> SubscriberIn:
    row = business(n, random.Random(n), webhook_base=receiver.url) | {
        "region": "历下区", "channels": channels.split("|"), "qualifications": [], "topics": [], "daily_cap": 5,
        "wechat_openid": openid(n), **changes}
    sub = SubscriberIn.model_validate(row)
    push.store.upsert(sub)
    return sub


def publication() -> Publication:
    return newmedia_publication(targeting={"regions": ["历下区"]}, channels=["push"])


def task_for(platforms: Platforms, pub: Publication, code: str) -> DeliveryTask:
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "push", Action.publish, code), channel="push",
                        action=Action.publish, publication=pub, recipient=code,
                        rendition=render_push(pub, platforms.settings))


def messages(platforms: Platforms) -> list[dict[str, Any]]:
    return platforms.inspect("wechat")["template_messages"]  # type: ignore[no-any-return]


def receipt_sent(platforms: Platforms) -> bool:
    return bool(messages(platforms)) and all(m["receipt"] for m in messages(platforms))


def signed(timestamp: str = "1700000000", nonce: str = "n0nce") -> dict[str, str]:
    sig = hashlib.sha1("".join(sorted([CALLBACK_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"signature": sig, "timestamp": timestamp, "nonce": nonce}


def receipt_xml(msgid: str, status: str, touser: str = "oGovcastTest0000000000000099") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_sandbox000001]]></ToUserName><FromUserName><![CDATA[{touser}]]>"
            f"</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID>"
            f"<Status><![CDATA[{status}]]></Status></xml>")


def sandbox_token(platforms: Platforms) -> str:
    answer = requests.post(f"{platforms.url}/sandbox/wechat/cgi-bin/stable_token", timeout=10, json={
        "grant_type": "client_credential", "appid": "wx_sandbox_appid", "secret": "sandbox-app-secret"}).json()
    return str(answer["access_token"])


# -- the happy path ----------------------------------------------------------------------------------------------


def test_send_is_sent_then_the_receipt_makes_it_delivered(platforms: Platforms, push: PushAdapter,
                                                          receiver: Receiver) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 1, "wechat_template|webhook")
    task = task_for(platforms, pub, sub.credit_code)
    first = push.deliver(task)
    assert isinstance(first, Pending) and first.external_id
    assert push.store.recipient_state(task.delivery_id) == "sent"
    facts = platforms.ledger.get("push", task.delivery_id)
    assert facts["awaiting"] == "wechat_template" and facts["wechat_template"]["msgid"] == first.external_id
    found = platforms.ledger.by_external_ref("push", f"wechat_template:{first.external_id}")
    assert found is not None and found[0] == task.delivery_id
    receipt = wait_until(lambda: platforms.ledger.get("push", task.delivery_id).get("receipt"))
    assert receipt["status"] == "success" and receipt["msgid"] == first.external_id and receipt["at"]
    done = push.deliver(later(task, checks=1))
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("wechat_template")
    assert "success" in done.detail and push.store.recipient_state(task.delivery_id) == "delivered"
    [message] = messages(platforms)
    assert message["touser"] == openid(1) and message["template_id"] == SANDBOX_TEMPLATE_ID
    assert message["client_msg_id"] == task.delivery_id and message["msgid"] == first.external_id
    assert message["status"] == "success" and message["receipt"]["http_status"] == 200  # signature accepted
    assert message["receipt"]["answer"] == "success"
    again = push.deliver(later(task, checks=2))  # idempotent: nothing is sent again
    assert isinstance(again, Delivered) and len(messages(platforms)) == 1 and receiver.received == {}


def test_template_data_carries_name_publisher_reason_kind_phone_and_the_link(platforms: Platforms, push: PushAdapter,
                                                                             receiver: Receiver) -> None:
    pub = publication()
    assert len(pub.title) > 20  # the official title is longer than a thing field: the document's short name goes
    sub = subscribe(push, receiver, 2, "wechat_template")
    assert isinstance(push.deliver(task_for(platforms, pub, sub.credit_code)), Pending)
    [message] = messages(platforms)
    data = {key: value["value"] for key, value in message["data"].items()}
    assert set(data) == {"thing1", "thing2", "thing3", "phrase4", "phone_number5"}
    assert all(0 < len(v) <= 20 for v in data.values())
    assert data["thing1"] == "2025年济南市政务公开工作要点"  # whole, not "济南市人民政府办公厅关于印发2025年济…"
    assert data["thing2"] == clip(pub.publisher, 20)
    assert "历下区" in data["thing3"] and not data["thing3"].startswith("推送原因")
    assert data["phrase4"] == "政策文件" and data["phone_number5"] == "12345"
    assert message["url"] == f"{platforms.url}/go/{pub.id}?c=wechat_template"


def test_values_are_one_line_and_cut_to_the_key_type() -> None:
    assert clip("  政策\n解读  ", 20) == "政策 解读"
    assert clip("一二三四五六", 5) == "一二三四…"
    assert clip("x" * 20, 20) == "x" * 20
    from adapters.push.message import PushMessage

    msg = PushMessage(delivery_id="dlv_1", publication_id="p", version=1, title="标题" * 20, publisher="局",
                      doc_no="", summary="", reason="", url="u", link="l", unsubscribe_url="", unsubscribe_all_url="",
                      sent_at=0.0)
    data = template_data(msg, ("thing01", "phrase2", "character_string3"))
    assert len(data["thing01"]["value"]) == 20 and data["phrase2"]["value"] == "局"
    assert data["character_string3"]["value"]  # an empty reason still gives the key a value


# -- receipts that fail, refusals, fallbacks ---------------------------------------------------------------------


@pytest.mark.parametrize(("control", "status", "fallback"), [
    (("_faults", {"block_user": 1}), "failed:user block", "webhook"),
    (("_followers", {"blocked": [openid(3)]}), "failed:user block", "webhook"),  # accepted, then the receipt says so
    (("_faults", {"system_failed": 1}), "failed: system failed", "email"),
])
def test_a_failed_receipt_falls_back_to_the_next_preferred_channel(
        platforms: Platforms, push: PushAdapter, receiver: Receiver, smtp: SmtpSink,
        control: tuple[str, dict[str, Any]], status: str, fallback: str) -> None:
    platforms.control("wechat", *control)
    pub = publication()
    sub = subscribe(push, receiver, 3, f"wechat_template|{fallback}")
    task = task_for(platforms, pub, sub.credit_code)
    assert isinstance(push.deliver(task), Pending)
    wait_until(lambda: platforms.ledger.get("push", task.delivery_id).get("receipt"))
    done = push.deliver(later(task, checks=1))
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith(fallback)
    facts = platforms.ledger.get("push", task.delivery_id)
    assert facts["failed"] == ["wechat_template"] and status in facts["error_wechat_template"]
    assert facts["delivered_via"] == fallback
    assert messages(platforms)[0]["status"] == status
    if fallback == "webhook":
        assert list(receiver.received) == [task.delivery_id]
    else:
        assert len(smtp.store.messages) == 1


@pytest.mark.parametrize(("followers", "contact", "errcode", "code"), [
    ({"unfollowed": [openid(5)]}, openid(5), 43004, "not_following"),
    ({"refused": [openid(5)]}, openid(5), 43101, "user_refused"),
    ({}, "oShort", 40003, "invalid_openid"),
])
def test_recipient_refusals_are_rejected_and_fall_back(
        platforms: Platforms, push: PushAdapter, receiver: Receiver, smtp: SmtpSink,
        followers: dict[str, list[str]], contact: str, errcode: int, code: str) -> None:
    if followers:
        platforms.control("wechat", "_followers", followers)
    sub = subscribe(push, receiver, 5, "wechat_template|email", wechat_openid=contact)
    stored = push.store.get(sub.credit_code)
    assert stored is not None
    sender = push.senders[PushChannel.wechat_template]
    task = task_for(platforms, publication(), sub.credit_code)
    refused = sender.send(stored, push.message(stored, task, PushChannel.wechat_template), {})
    assert isinstance(refused, Rejected) and refused.code == code and str(errcode) in refused.reason
    done = push.deliver(task)
    assert isinstance(done, Delivered) and done.detail and done.detail.startswith("email")
    assert str(errcode) in platforms.ledger.get("push", task.delivery_id)["error_wechat_template"]
    assert messages(platforms) == [] and len(smtp.store.messages) == 1


# -- retries, dedupe, quota --------------------------------------------------------------------------------------


def test_the_same_client_msg_id_twice_sends_one_message(platforms: Platforms, push: PushAdapter,
                                                        receiver: Receiver) -> None:
    sub = subscribe(push, receiver, 6, "wechat_template")
    stored = push.store.get(sub.credit_code)
    assert stored is not None
    task = task_for(platforms, publication(), sub.credit_code)
    msg = push.message(stored, task, PushChannel.wechat_template)
    sender = push.senders[PushChannel.wechat_template]
    one, two = sender.send(stored, msg, {}), sender.send(stored, msg, {})
    assert isinstance(one, Pending) and isinstance(two, Pending) and one.external_id == two.external_id
    wait_until(lambda: receipt_sent(platforms))
    time.sleep(0.3)  # a second receipt would have come by now
    [message] = messages(platforms)
    assert message["repeats"] == 1 and sum(platforms.inspect("wechat")["template_sends_per_day"].values()) == 1


def test_a_timeout_is_resent_with_the_same_client_msg_id_and_sends_once(make_push: Any, platforms: Platforms,
                                                                        receiver: Receiver) -> None:
    push = make_push(timeout=0.5)
    platforms.faults("wechat", timeout_template=1, delay_seconds=1.5)
    sub = subscribe(push, receiver, 7, "wechat_template")
    task = task_for(platforms, publication(), sub.credit_code)
    first = push.deliver(task)  # the first answer times out; the resend is deduplicated by client_msg_id
    assert isinstance(first, Pending)
    [message] = messages(platforms)
    assert message["msgid"] == first.external_id and message["repeats"] >= 1


def test_busy_and_the_daily_quota_45009_retry_later_on_the_same_channel(platforms: Platforms, push: PushAdapter,
                                                                        receiver: Receiver) -> None:
    platforms.faults("wechat", busy=1, template_quota=True)
    sub = subscribe(push, receiver, 8, "wechat_template|webhook")
    task = task_for(platforms, publication(), sub.credit_code)
    busy = push.deliver(task)
    assert isinstance(busy, Retryable) and "-1" in busy.reason and busy.retry_after == 5.0
    deferred = push.deliver(later(task, attempt=2))
    assert isinstance(deferred, Retryable) and "45009" in deferred.reason
    assert 60 < deferred.retry_after <= 86400 + 60
    assert receiver.received == {} and push.store.recipient_state(task.delivery_id) != "sent"
    assert isinstance(push.deliver(later(task, attempt=3)), Retryable)  # still the same quota day
    platforms.advance("wechat", 86400)
    assert isinstance(push.deliver(later(task, attempt=4)), Pending) and receiver.received == {}


# -- lost receipts, receipts before the msgid, signatures ---------------------------------------------------------


def test_without_a_receipt_it_counts_as_delivered_after_the_wait(make_push: Any, platforms: Platforms,
                                                                 receiver: Receiver, clock: Clock) -> None:
    push = make_push(receipt_wait_seconds=60.0)
    platforms.faults("wechat", drop_receipts=True)
    sub = subscribe(push, receiver, 10, "wechat_template|webhook")
    task = task_for(platforms, publication(), sub.credit_code)
    first = push.deliver(task)
    assert isinstance(first, Pending)
    wait_until(lambda: receipt_sent(platforms))
    assert messages(platforms)[0]["receipt"]["dropped"] is True
    checks, result = 0, push.deliver(later(task, checks=1))
    while isinstance(result, Pending):  # as the host does: come back after check_after
        checks += 1
        assert checks < 10 and 0 < result.check_after <= 60
        clock.offset += result.check_after
        result = push.deliver(later(task, checks=checks + 1))
    assert isinstance(result, Delivered) and result.detail
    assert "no receipt within 60 s" in result.detail and first.external_id in result.detail
    assert push.store.recipient_state(task.delivery_id) == "delivered" and receiver.received == {}


def test_unsigned_receipts_are_refused_and_early_ones_are_kept(platforms: Platforms, push: PushAdapter,
                                                               receiver: Receiver, clock: Clock) -> None:
    url = f"{platforms.url}/callbacks/wechat"
    xml = receipt_xml("99", "failed:user block")
    assert requests.post(url, data=xml, timeout=10).status_code == 403
    forged = requests.post(url, data=xml, params={**signed(), "signature": "0" * 40}, timeout=10)
    assert forged.status_code == 403
    assert platforms.ledger.get("push", early_receipt_key("99")) == {}
    accepted = requests.post(url, data=xml, params=signed(), timeout=10)
    assert accepted.status_code == 200 and accepted.text == "success"
    # the receipt came before any delivery recorded msgid 99: kept, and check finds it there
    assert platforms.ledger.get("push", early_receipt_key("99"))["receipt"]["status"] == "failed:user block"
    sub = subscribe(push, receiver, 11, "wechat_template")
    stored = push.store.get(sub.credit_code)
    assert isinstance(stored, Subscriber)
    sender = push.senders[PushChannel.wechat_template]
    assert isinstance(sender, WechatTemplateSender)
    task = task_for(platforms, publication(), sub.credit_code)
    facts = {"wechat_template": {"msgid": "99", "sent_at": clock().timestamp()}}
    result = sender.check(stored, push.message(stored, task, PushChannel.wechat_template), facts)
    assert isinstance(result, Rejected) and result.code == "user_block"


# -- the sandbox's contract and the wiring ------------------------------------------------------------------------


def test_sandbox_checks_token_template_and_field_limits(platforms: Platforms) -> None:
    url = f"{platforms.url}/sandbox/wechat/cgi-bin/message/template/send"
    body = {"touser": openid(12), "template_id": SANDBOX_TEMPLATE_ID,
            "data": {"thing1": {"value": "标题"}, "thing2": {"value": "发布单位"}, "thing3": {"value": "原因"},
                     "phrase4": {"value": "政策文件"}, "phone_number5": {"value": "12345"}}}
    assert requests.post(url, json=body, timeout=10).json()["errcode"] == 41001
    params = {"access_token": sandbox_token(platforms)}
    assert requests.post(url, params={"access_token": "forged"}, json=body, timeout=10).json()["errcode"] == 40001
    wrong = requests.post(url, params=params, json={**body, "template_id": "nope"}, timeout=10).json()
    assert wrong["errcode"] == 40037
    long = {**body, "data": {**body["data"], "thing1": {"value": "字" * 21}}}  # type: ignore[dict-item]
    assert requests.post(url, params=params, json=long, timeout=10).json()["errcode"] == 47003
    ok = requests.post(url, params=params, json=body, timeout=10).json()
    assert ok["errcode"] == 0 and isinstance(ok["msgid"], int)
    platforms.faults("wechat", template_daily_limit=1)  # 100,000 a quota day by default
    assert requests.post(url, params=params, json=body, timeout=10).json()["errcode"] == 45009
    listed = requests.get(f"{platforms.url}/sandbox/wechat/cgi-bin/template/get_all_private_template", params=params,
                          timeout=10).json()
    assert [t["template_id"] for t in listed["template_list"]] == [SANDBOX_TEMPLATE_ID]
    state = platforms.inspect("wechat")
    assert [t["template_id"] for t in state["templates"]] == [SANDBOX_TEMPLATE_ID]
    [message] = state["template_messages"]
    assert {"touser", "template_id", "client_msg_id", "msgid", "data", "status"} <= set(message)


def test_the_sender_is_built_with_a_template_id_or_the_sandbox() -> None:
    assert push_config(Settings()).wechat_template is not None  # type: ignore[attr-defined]
    assert push_config(Settings(sandboxes=False)).wechat_template is None  # type: ignore[attr-defined]
    real = push_config(Settings(sandboxes=False, channel_env={"push": {"wechat_template_id": "tpl"},
                                                          "wechat": {"appid": "wx1", "secret": "s3cret"}}))
    template = real.wechat_template  # type: ignore[attr-defined]
    assert template.template_id == "tpl" and template.account.base_url == "https://api.weixin.qq.com"
    assert "s3cret" not in repr(template)
    with pytest.raises(ValueError, match="GOVCAST_WECHAT_APPID"):
        push_config(Settings(sandboxes=False, channel_env={"push": {"wechat_template_id": "tpl"}}))


def test_token_bucket_paces_callers() -> None:
    now = [0.0]
    waits: list[float] = []
    bucket = TokenBucket(10.0, burst=1, clock=lambda: now[0], sleep=waits.append)
    for _ in range(4):
        bucket.acquire()
    assert waits == pytest.approx([0.1, 0.2, 0.3])  # the first token is there; then one per 0.1 s
    real = TokenBucket(50.0, burst=1)
    start = time.monotonic()
    threads = [threading.Thread(target=real.acquire) for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start >= 0.18  # 10 tokens after the first, 50 per second


def test_sandbox_keeps_template_messages_across_a_restart(tmp_path: Path) -> None:
    first = Platforms(tmp_path).start()
    body = {"touser": openid(14), "template_id": SANDBOX_TEMPLATE_ID, "client_msg_id": "dlv_restart",
            "data": {"thing1": {"value": "标题"}, "thing2": {"value": "发布单位"}, "thing3": {"value": "原因"},
                     "phrase4": {"value": "政策文件"}, "phone_number5": {"value": "12345"}}}
    try:
        url = f"{first.url}/sandbox/wechat/cgi-bin/message/template/send"
        sent = requests.post(url, params={"access_token": sandbox_token(first)}, json=body, timeout=10).json()
        wait_until(lambda: receipt_sent(first))
        time.sleep(0.5)  # the state file is written within 0.2 s
    finally:
        first.stop()
    second = Platforms(tmp_path).start()
    try:
        [message] = messages(second)
        assert message["msgid"] == str(sent["msgid"]) and message["status"] == "success"
        url = f"{second.url}/sandbox/wechat/cgi-bin/message/template/send"
        again = requests.post(url, params={"access_token": sandbox_token(second)}, json=body, timeout=10).json()
        assert again["msgid"] == sent["msgid"] and len(messages(second)) == 1  # still deduplicated
    finally:
        second.stop()
