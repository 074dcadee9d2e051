"""Push adapter against a real HTTP receiver (Standard Webhooks, verified by the PyPI library) and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from adapters.base import AdapterServices
from adapters.push import PushAdapter, PushConfig, push_config
from adapters.push.message import LAPSE_EVENT, REVISED_EVENT
from adapters.push.render import render_push
from adapters.push.unsubscribe import read_token
from adapters.push.webhook import body, payload, sign
from govcast.sinks import SmtpSink
from persistence.ledger import Ledger
from processors.target import fan_out
from schemas.delivery import Action, Delivered, DeliveryTask, Rejected, Retryable, delivery_id
from schemas.publication import Publication
from schemas.subscriber import PushChannel, SubscriberIn
from settings import Settings
from tests.adapters.newmedia_support import publication as newmedia_publication
from tests.push_support import Receiver, business, credit_code

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_standard_webhooks_test_vector() -> None:
    assert sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def push(tmp_path: Path, smtp: SmtpSink) -> Iterator[PushAdapter]:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    # the test receiver listens on loopback: allowed explicitly, as an on-premises receiver would be
    config = PushConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, quiet_channels=("webhook",),
                        webhook_allowed_networks=("127.0.0.1/32",))
    adapter = PushAdapter(config, AdapterServices(ledger=Ledger(engine), public_url="http://gov.test"))
    yield adapter
    adapter.close()


@pytest.fixture
def guarded_push(tmp_path: Path, smtp: SmtpSink) -> Iterator[PushAdapter]:
    """The push adapter as production runs it: no allow-list, webhooks reach public addresses only."""
    engine = create_engine(f"sqlite:///{tmp_path / 'guarded.db'}")
    config = PushConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, quiet_channels=("webhook",))
    adapter = PushAdapter(config, AdapterServices(ledger=Ledger(engine), public_url="http://gov.test"))
    yield adapter
    adapter.close()


def publication() -> Publication:
    return newmedia_publication(targeting={"regions": ["历下区"]}, channels=["push"])


def subscribe(push: PushAdapter, receiver: Receiver, n: int, channels: str) -> SubscriberIn:
    sub = SubscriberIn.model_validate(business(n, random.Random(n), webhook_base=receiver.url)
                                      | {"region": "历下区", "channels": channels.split("|"), "qualifications": [],
                                         "topics": [], "daily_cap": 5})
    push.store.upsert(sub)
    return sub


def task_for(pub: Publication, code: str) -> DeliveryTask:
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "push", Action.publish, code), channel="push",
                        action=Action.publish, publication=pub, recipient=code,
                        rendition=render_push(pub, Settings(public_url="http://gov.test")))


def test_webhook_delivery_is_signed_and_idempotent(push: PushAdapter, receiver: Receiver) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 1, "webhook|email")
    task = task_for(pub, sub.credit_code)
    assert isinstance(push.deliver(task), Delivered)
    assert isinstance(push.deliver(task), Delivered)  # again: the ledger says done, nothing is sent
    assert list(receiver.received) == [task.delivery_id] and len(receiver.received[task.delivery_id]) == 1
    data = receiver.received[task.delivery_id][0]["payload"]["data"]
    assert data["title"] == pub.title and "历下区" in data["reason"] and data["url"].startswith("http://gov.test/portal/")
    assert receiver.bad_signatures == 0


@pytest.mark.parametrize("event", ["policy.published", REVISED_EVENT, LAPSE_EVENT])
def test_bodies_rendered_once_per_policy_are_each_recipients_own_payload(
        push: PushAdapter, receiver: Receiver, event: str) -> None:
    """The shared part of the JSON is serialized once; each body still parses to that business's full payload."""
    pub = publication().model_copy(update={"change_note": "第三条修改"})
    rendition = {**render_push(pub, Settings(public_url="http://gov.test")), "event": event,
                 "replacement_title": "新办法", "replacement_url": "http://gov.test/portal/new.html"}
    for n in (1, 2, 3):
        sub = push.store.get(subscribe(push, receiver, n, "webhook").credit_code)
        assert sub is not None
        task = task_for(pub, sub.credit_code).model_copy(update={"rendition": rendition})
        msg = push.message(sub, task, PushChannel.webhook)
        assert json.loads(body(sub, msg)) == payload(sub, msg)
        assert payload(sub, msg)["data"]["credit_code"] == sub.credit_code and "历下区" in msg.reason


def test_webhook_429_and_5xx_retry_410_disables_and_falls_back_to_email(
        push: PushAdapter, receiver: Receiver, smtp: SmtpSink) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 2, "webhook|email")
    task = task_for(pub, sub.credit_code)
    path = "/hooks/2"
    for status in (429, 502, 503):
        receiver.answers[path] = status
        assert isinstance(push.deliver(task), Retryable)
    receiver.answers[path] = 410
    result = push.deliver(task)
    assert isinstance(result, Delivered) and result.detail and result.detail.startswith("email")
    assert push.store.get(sub.credit_code).webhook_disabled  # type: ignore[union-attr]
    assert len(smtp.store.messages) == 1
    assert push.store.recipient_state(task.delivery_id) == "delivered"


@pytest.mark.parametrize("host", ["127.0.0.1", "hostname"])
def test_webhooks_to_inward_addresses_are_refused_at_send_time_and_fall_back(
        guarded_push: PushAdapter, receiver: Receiver, smtp: SmtpSink, host: str) -> None:
    """A record saved before the guard (or a name rebound to loopback after the save) is refused when sent."""
    name = socket.gethostname() if host == "hostname" else host  # resolves to loopback/private on test machines
    base = receiver.url.replace("127.0.0.1", name)
    pub = publication()
    sub = SubscriberIn.model_validate(business(7, random.Random(7), webhook_base=base)
                                      | {"region": "历下区", "channels": ["webhook", "email"], "qualifications": [],
                                         "topics": [], "daily_cap": 5})
    guarded_push.store.upsert(sub)
    result = guarded_push.deliver(task_for(pub, sub.credit_code))
    assert isinstance(result, Delivered) and result.detail and result.detail.startswith("email"), result
    assert receiver.received == {} and len(smtp.store.messages) == 1


def test_email_has_text_html_and_rfc8058_headers(push: PushAdapter, receiver: Receiver, smtp: SmtpSink) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 3, "email")
    task = task_for(pub, sub.credit_code)
    assert isinstance(push.deliver(task), Delivered)
    [mail] = smtp.store.messages
    msg = message_from_bytes(mail["raw"], policy=policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(msg["List-Unsubscribe"]).strip("<>")
    assert url.startswith("http://gov.test/u/")
    assert read_token(push.unsubscribe_secret, url.rsplit("/", 1)[1]) == (sub.credit_code, "email", pub.id)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert pub.title in text and "推送原因" in text and f"/go/{pub.id}?c=email" in text and "<a href=" in html
    assert msg["Message-ID"] == f"<{task.delivery_id}@govcast>"
    # Says what it is, with its 发文字号 and whom to call, from a real sending address.
    assert msg["Subject"] == f"【政策文件】{pub.title}" and msg["From"].addresses[0].addr_spec == "push@govcast.example"
    assert f"发布政策文件《{pub.title}》（{pub.doc_no}）。" in text and "咨询电话：12345" in text and "咨询电话：12345" in html


def test_production_email_needs_a_real_sender_address(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path, "public_url": "https://www.example.gov.cn", "sandboxes": False}

    def config(**push: str) -> object:
        return push_config(Settings(**base, channel_env={"push": {"smtp_host": "smtp.example.gov.cn", **push}}))

    with pytest.raises(ValueError, match="GOVCAST_PUSH_MAIL_FROM is required with GOVCAST_PUSH_SMTP_HOST"):
        config()
    sandbox = push_config(Settings(data_dir=base["data_dir"], channel_env={"push": {"smtp_host": "127.0.0.1"}}))
    assert isinstance(sandbox, PushConfig) and sandbox.mail_from == "政策推送（演示） <push@govcast.example>"
    with pytest.raises(ValueError, match="must be a real sending address"):
        config(mail_from="govcast@localhost")
    built = config(mail_from="济南市政策推送 <zcts@example.gov.cn>", consult_phone="0531-12345678")
    assert isinstance(built, PushConfig) and built.mail_from.endswith("<zcts@example.gov.cn>")
    assert built.consult_phone == "0531-12345678"


def test_unsubscribed_and_refused_are_not_delivered(push: PushAdapter, receiver: Receiver) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 4, "webhook")
    push.store.unsubscribe(sub.credit_code, "all")
    task = task_for(pub, sub.credit_code)
    result = push.deliver(task)
    assert isinstance(result, Rejected) and result.code == "unsubscribed"
    assert push.store.recipient_state(task.delivery_id) == "unsubscribed"
    assert push.store.summary(pub.id, pub.version)["unsubscribed"] == 1
    other = subscribe(push, receiver, 5, "webhook")
    receiver.answers["/hooks/5"] = 400
    result = push.deliver(task_for(pub, other.credit_code))
    assert isinstance(result, Rejected) and result.code == "all_channels_failed"
    assert receiver.received == {}


def test_quiet_hours_defer_until_the_window_ends(push: PushAdapter, receiver: Receiver) -> None:
    pub = publication()
    sub = subscribe(push, receiver, 6, "webhook")
    task = task_for(pub, sub.credit_code)
    night = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)  # 23:00 in Jinan
    until, reason = push.deferral(task, night)  # type: ignore[misc]
    assert until == dt.datetime(2025, 3, 5, 0, 0, tzinfo=dt.UTC) and "quiet hours" in reason  # 08:00 local
    assert push.deferral(task, dt.datetime(2025, 3, 5, 1, 0, tzinfo=dt.UTC)) is None


def test_fan_out_emits_one_stable_task_per_match(push: PushAdapter, receiver: Receiver) -> None:
    import asyncio

    from persistence.store import StatusStore
    from processors.stages import StageContext

    for n in range(10, 15):
        subscribe(push, receiver, n, "webhook")
    pub = publication()
    channel_task = DeliveryTask(delivery_id="dlv_x", channel="push", action=Action.publish, publication=pub,
                                rendition=render_push(pub, Settings()))
    ctx = StageContext(settings=Settings(), store=StatusStore("sqlite://"), adapters={"push": push}, push=push)
    first = [m for m in asyncio.run(fan_out(channel_task, ctx)) if isinstance(m, DeliveryTask)]
    again = [m for m in asyncio.run(fan_out(channel_task, ctx)) if isinstance(m, DeliveryTask)]
    assert {t.recipient for chunk in first for t in chunk.per_recipient()} == {credit_code(n) for n in range(10, 15)}
    assert [t.delivery_id for c in first for t in c.per_recipient()] == [t.delivery_id for c in again
                                                                         for t in c.per_recipient()]
    assert push.store.summary(pub.id, pub.version)["queued"] == 5


def test_a_revision_is_a_publication_revised_event_for_the_webhooks_that_received_it(
        push: PushAdapter, receiver: Receiver, smtp: SmtpSink) -> None:
    import asyncio

    from persistence.store import StatusStore
    from processors.stages import StageContext

    hooked, mailed, both = (subscribe(push, receiver, n, channels).credit_code
                            for n, channels in ((20, "webhook"), (21, "email"), (22, "email|webhook")))
    ctx = StageContext(settings=Settings(), store=StatusStore("sqlite://"), adapters={"push": push}, push=push)

    def publish(pub: Publication) -> list[DeliveryTask]:
        channel_task = DeliveryTask(delivery_id=f"dlv_{pub.version}", channel="push", action=Action.publish,
                                    publication=pub, rendition=render_push(pub, Settings()))
        tasks = [t for m in asyncio.run(fan_out(channel_task, ctx)) if isinstance(m, DeliveryTask) for t in m.per_recipient()]
        assert all(isinstance(push.deliver(t), Delivered) for t in tasks)
        return tasks

    def events(code: str) -> list[dict[str, object]]:
        return [d["payload"] for found in receiver.received.values() for d in found
                if d["payload"]["data"]["credit_code"] == code]

    first = publication()
    assert {t.recipient for t in publish(first)} == {hooked, mailed, both}
    revision = first.model_copy(update={"version": 2, "change_note": "第三条补充申报材料清单"})
    assert {t.recipient for t in publish(revision)} == {hooked, both}  # people were told once; systems hear of it
    assert {t.recipient for t in publish(revision)} == {hooked, both}  # replayed: the same deliveries, sent once
    [published, revised] = events(hooked)
    assert published["type"] == "policy.published" and revised["type"] == "publication.revised"
    data = revised["data"]
    assert isinstance(data, dict) and data["version"] == 2 and data["change_note"] == "第三条补充申报材料清单"
    assert data["index_no"] == first.index_no_text and data["validity"] == "有效" and data["kind"] == "policy"
    assert data["doc_no"] == first.doc_no and data["publish_date"] == str(first.publish_date)
    assert [e["type"] for e in events(both)] == ["publication.revised"]  # its first push went by email
    assert len(smtp.store.messages) == 2  # the two emails of version 1, none for the revision
