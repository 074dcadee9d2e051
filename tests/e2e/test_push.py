"""Policy push end to end: 1,000 businesses with mixed profiles and channels; a policy for C39 manufacturers in
历下区 and 高新区 that are 专精特新 reaches exactly the matching ones (computed independently here), each once, on
its preferred channel, counted where it arrives: a real webhook receiver verifying Standard Webhooks signatures,
a real SMTP server, the SMS and WeChat sandboxes. Receipts turn `sent` into `delivered`; the campaign shows the
counts and portal-link clicks; a one-click unsubscribe keeps the next policy from that business. Quiet hours
defer an SMS at 23:00 (injected clock) to 08:00, and it is sent then."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.push.short_links import candidate
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from govcast.sinks import SmtpSink
from tests.conftest import Client, GovcastProcess, cli, launch
from tests.push_support import Receiver, business, expected, write_csv

TARGET = {"regions": ["历下区", "高新区"], "industries": ["C39"], "qualifications": ["专精特新中小企业"]}
BEIJING = dt.timezone(dt.timedelta(hours=8))
LOOPBACK_HOOKS = {"GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}  # the test receiver is on loopback


def beijing_today(hour: int) -> str:
    return dt.datetime.now(BEIJING).replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


@pytest.fixture(scope="module")
def receivers(host: str) -> Iterator[tuple[Receiver, SmtpSink]]:
    """Fresh receivers per host, so test_receivers_saw_no_duplicates checks each host's pushes."""
    receiver, smtp = Receiver().start(), SmtpSink().start()
    yield receiver, smtp
    receiver.stop()
    smtp.stop()


@pytest.fixture(scope="module")
def rows(receivers: tuple[Receiver, SmtpSink]) -> list[dict[str, Any]]:
    rng = random.Random(2025)
    out = [business(n, rng, webhook_base=receivers[0].url) for n in range(1, 1001)]
    for row in out[:300]:  # enough matches to be meaningful
        if rng.random() < 0.6:
            row.update(region=rng.choice(TARGET["regions"]), industry=rng.choice(["C3911", "C3921", "C39"]),
                       qualifications="专精特新中小企业|" + rng.choice(["瞪羚", "高新技术企业"]))
    return out


@pytest.fixture(scope="module")
def push_system(request: pytest.FixtureRequest, host: str, tmp_path_factory: pytest.TempPathFactory,
                receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]]) -> Iterator[GovcastProcess]:
    base = tmp_path_factory.mktemp(f"push-{host}")
    data = base / "data"
    done = cli("subscribers", "import", str(write_csv(base / "subs.csv", rows)), "--data-dir", str(data), env=LOOPBACK_HOOKS)
    assert done.returncode == 0, done.stderr
    env = {**LOOPBACK_HOOKS, "GOVCAST_CHANNELS": "portal,push", "GOVCAST_PUSH_SMTP_HOST": "127.0.0.1",
           "GOVCAST_PUSH_SMTP_PORT": str(receivers[1].port),
           "GOVCAST_CLOCK_START": beijing_today(10),  # office hours, whenever CI runs: no quiet-hours deferrals
           "GOVCAST_PUSH_SMS_RECEIPT_CHECK_SECONDS": "1"}
    process = launch(request, host, data, env=env)
    yield process
    process.stop()


def inspect(system: GovcastProcess, platform: str) -> dict[str, Any]:
    response = requests.get(f"{system.url}/sandbox/{platform}/_inspect", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def carries(sms: dict[str, Any], pub_id: str) -> bool:
    """An SMS (as the sandbox shows it) links to this publication: its short link's code is the publication's."""
    return str(sms["content"]).endswith(f"/s/{candidate(pub_id)}")


def reached(system: GovcastProcess, receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]],
            pub_id: str) -> dict[str, list[str]]:
    """credit code -> channels that carried publication `pub_id` to it, counted where the messages arrived."""
    receiver, smtp = receivers
    by_email = {r["email"]: r["credit_code"] for r in rows}
    by_phone = {r["mobile"]: r["credit_code"] for r in rows}
    by_openid = {r["wechat_openid"]: r["credit_code"] for r in rows}
    out: dict[str, list[str]] = {}
    for deliveries in receiver.received.values():
        for d in deliveries:
            if d["payload"]["data"]["publication_id"] == pub_id:
                out.setdefault(d["payload"]["data"]["credit_code"], []).append("webhook")
    for m in smtp.store.messages:
        msg = message_from_bytes(m["raw"], policy=policy.default)
        if pub_id in msg.get_body(("plain",)).get_content():  # type: ignore[union-attr]
            out.setdefault(by_email[m["to"][0]], []).append("email")
    for m in inspect(system, "sms")["messages"]:
        if carries(m, pub_id):
            out.setdefault(by_phone[m["phone"]], []).append("sms")
    for m in inspect(system, "wechat")["template_messages"]:
        if pub_id in (m["url"] or ""):
            out.setdefault(by_openid[m["touser"]], []).append("wechat_template")
    return out


def push_and_wait(department: Client, title: str, **changes: Any) -> dict[str, Any]:
    response = department.submit(sample_policy(title=title, channels=["portal", "push"], **{"targeting": TARGET} | changes))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    deadline = time.monotonic() + 120
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = department.get(pub_id)
        campaign = body.get("campaign") or {}
        outstanding = campaign.get("queued", 1) + campaign.get("deferred", 1) + campaign.get("sent", 1)
        if body["deliveries"].get("push", {}).get("status") == "delivered" and outstanding == 0:
            return body
        time.sleep(0.2)
    raise AssertionError(f"push never finished: {body.get('campaign')} {body.get('deliveries')}")


def department_of(system: GovcastProcess) -> Client:
    return Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))


def test_matching_businesses_receive_it_once_then_unsubscribe_stops_pushes(
        push_system: GovcastProcess, receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]]) -> None:
    receiver, smtp = receivers
    department = department_of(push_system)
    want = expected(rows, regions=set(TARGET["regions"]), industry="C39", quals={"专精特新中小企业"})
    assert len(want) > 50
    body = push_and_wait(department, "关于支持专精特新中小企业高质量发展的若干措施")
    pub_id = body["id"]
    campaign = body["campaign"]
    assert campaign["matched"] == campaign["delivered"] == len(want) and campaign["failed"] == 0, str(campaign)
    got = reached(push_system, receivers, rows, pub_id)
    assert set(got) == want  # exactly the matching businesses
    preferred = {r["credit_code"]: r["channels"].split("|")[0] for r in rows}
    assert all(channels == [preferred[code]] for code, channels in got.items())  # once, on the preferred channel
    assert {ch for channels in got.values() for ch in channels} == {"webhook", "email", "sms", "wechat_template"}
    assert receiver.bad_signatures == 0
    # SMS and WeChat template messages were `sent` first; their receipts made them `delivered`.
    push_steps = [e["detail"] or "" for e in body["timeline"] if e["channel"] == "push"]
    assert any(int(m.group(1)) > 0 for d in push_steps if (m := re.search(r"sent (\d+)", d))), push_steps
    sms = inspect(push_system, "sms")
    acknowledged = {out_id for r in sms["receipts"] if r["ok"] for out_id in r["out_ids"]}
    ours = [m for m in sms["messages"] if carries(m, pub_id)]
    assert ours and all(m["out_id"] in acknowledged and m["status"] == "delivered" for m in ours)
    # One segment each, and the short link in it opens the portal page (and counts the click).
    assert all(m["chars"] <= 70 and m["segments"] == 1 for m in ours), [m["content"] for m in ours]
    short = requests.get(ours[0]["content"].rsplit(" ", 1)[1], timeout=10)
    assert short.status_code == 200 and short.url == body["links"]["portal"]
    wechat = [m for m in inspect(push_system, "wechat")["template_messages"] if pub_id in (m["url"] or "")]
    assert wechat and all(m["receipt"] for m in wechat)

    # The message names the policy, why it matches, and links to the portal page through the click counter.
    only_email = {r["credit_code"] for r in rows if r["channels"] == "email"}
    email_code = next(code for code, ch in got.items() if ch == ["email"] and code in only_email)
    address = next(r["email"] for r in rows if r["credit_code"] == email_code)
    [msg] = [msg for m in smtp.store.messages if m["to"][0] == address
             and pub_id in (msg := message_from_bytes(m["raw"], policy=policy.default)).get_body(("plain",)).get_content()]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "专精特新" in text and "推送原因" in text
    link = re.search(r"查看全文：(\S+)", text).group(1)  # type: ignore[union-attr]
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and page.url == body["links"]["portal"]
    assert department.get(pub_id)["campaign"]["clicked"] == 2  # the SMS link above, this one

    # One-click unsubscribe (RFC 8058): POST, no cookies, no redirect.
    unsubscribe = str(msg["List-Unsubscribe"]).strip("<>")
    answer = requests.post(unsubscribe, data="List-Unsubscribe=One-Click", allow_redirects=False, timeout=10,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    again = requests.post(unsubscribe, data="List-Unsubscribe=One-Click", allow_redirects=False, timeout=10,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200  # idempotent, and counted once: the campaign lost one business
    assert department.get(pub_id)["campaign"]["unsubscribed"] == 1

    second = push_and_wait(department, "关于专精特新中小企业融资支持的补充通知")
    got2 = reached(push_system, receivers, rows, second["id"])
    assert email_code not in got2 and set(got2) == want - {email_code}
    assert second["campaign"]["matched"] == second["campaign"]["delivered"] == len(want) - 1


def test_publication_without_targeting_still_delivers(push_system: GovcastProcess) -> None:
    department = department_of(push_system)
    response = department.submit(sample_policy(title="无定向推送的普通通知"))
    body = department.wait_for(response.json()["id"], "delivered", timeout=60)
    assert body["campaign"]["matched"] == 0


def test_receivers_saw_no_duplicates(push_system: GovcastProcess, receivers: tuple[Receiver, SmtpSink]) -> None:
    receiver, smtp = receivers
    assert all(len(v) == 1 for v in receiver.received.values())
    ids = [m["message_id"] for m in smtp.store.messages]
    assert len(ids) == len(set(ids))
    out_ids = [m["out_id"] for m in inspect(push_system, "sms")["messages"]]
    assert len(out_ids) == len(set(out_ids))
    client_ids = [m["client_msg_id"] for m in inspect(push_system, "wechat")["template_messages"]]
    assert len(client_ids) == len(set(client_ids)) and all(m["repeats"] == 0
                                                            for m in inspect(push_system, "wechat")["template_messages"])


@pytest.mark.parametrize("host", ["embedded"], indirect=False)
def test_quiet_hours_defer_an_sms_at_2300_to_0800(request: pytest.FixtureRequest, tmp_path: Path, host: str) -> None:
    """The pipeline clock starts at 23:00 Beijing time (GOVCAST_CLOCK_START); the SMS waits for 08:00."""
    row = business(7, random.Random(7)) | {"channels": "sms", "region": "历下区"}
    data = tmp_path / "data"
    done = cli("subscribers", "import", str(write_csv(tmp_path / "one.csv", [row])), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_CLOCK_START": beijing_today(23),
           "GOVCAST_PUSH_SMS_RECEIPT_CHECK_SECONDS": "1"}
    system = launch(request, host, data, env=env)
    try:
        department = department_of(system)
        response = department.submit(sample_policy(title="关于夜间推送演练的通知", channels=["portal", "push"],
                                                   targeting={"regions": ["历下区"]}))
        pub_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while (department.get(pub_id).get("campaign") or {}).get("deferred") != 1:
            assert time.monotonic() < deadline, department.get(pub_id)
            time.sleep(0.2)
        time.sleep(2)  # the deferral holds: nothing reaches the SMS platform at night
        assert not [m for m in inspect(system, "sms")["messages"] if m["phone"] == row["mobile"]]
        detail = department.get(pub_id)["deliveries"]["push"]["detail"]
        assert "deferred 1" in detail, detail

        clock = requests.get(f"{system.url}/sandbox/_clock", timeout=10).json()
        now = dt.datetime.fromisoformat(clock["now"]).astimezone(BEIJING)
        assert now.hour == 23
        morning = (now + dt.timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
        almost = (morning - now).total_seconds() - 30
        requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": almost},
                      headers=system.operator_headers(), timeout=10).raise_for_status()
        time.sleep(6)  # 07:59:30 still quiet: the host re-checks its wait at least every 5 s
        assert not [m for m in inspect(system, "sms")["messages"] if m["phone"] == row["mobile"]]
        requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": 31},
                      headers=system.operator_headers(), timeout=10).raise_for_status()
        deadline = time.monotonic() + 60
        while (department.get(pub_id).get("campaign") or {}).get("delivered") != 1:
            assert time.monotonic() < deadline, department.get(pub_id)
            time.sleep(0.2)
        [sent] = [m for m in inspect(system, "sms")["messages"] if m["phone"] == row["mobile"]]
        assert sent["status"] == "delivered"
    finally:
        system.stop()


def test_repeal_sends_each_business_that_received_the_policy_one_lapse_notice(
        push_system: GovcastProcess, receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]]) -> None:
    receiver = receivers[0]
    department = department_of(push_system)
    policy_body = push_and_wait(department, "关于促进专精特新中小企业数字化转型的若干措施")
    pub_id = policy_body["id"]
    first = reached(push_system, receivers, rows, pub_id)
    assert first and all(len(channels) == 1 for channels in first.values())

    decision = department.submit(sample_policy(
        title="关于废止《关于促进专精特新中小企业数字化转型的若干措施》的决定", doc_no="济政办字〔2025〕21号",
        channels=["portal"], related=[{"id": pub_id, "relation": "repeals"}]))
    assert decision.status_code == 202, decision.text
    # The decision goes out while its lapse notices fan out: 8 s for both on the Kafka host at load ~15, and the
    # case ran 4x slower at load ~28, near wait_for's default 30 s: these waits get the module's 120 s.
    decision_url = department.wait_for(decision.json()["id"], "delivered", timeout=120)["deliveries"]["portal"]["url"]
    lapsed = department.wait_for(pub_id, "delivered", version=2, timeout=120)
    assert lapsed["validity"] == "废止"
    assert lapsed["campaign"]["matched"] == lapsed["campaign"]["delivered"] == len(first), lapsed["campaign"]
    # Revising the decision repeals nothing again: no second notice.
    again = department.revise(decision.json()["id"], sample_policy(
        title="关于废止《关于促进专精特新中小企业数字化转型的若干措施》的决定", doc_no="济政办字〔2025〕21号",
        channels=["portal"], related=[{"id": pub_id, "relation": "repeals"}], change_note="更正错别字"))
    assert again.status_code == 202, again.text
    department.wait_for(decision.json()["id"], "delivered", version=2, timeout=120)
    assert department.get(pub_id)["version"] == 2

    after = reached(push_system, receivers, rows, pub_id)
    assert after == {code: channels * 2 for code, channels in first.items()}  # one notice each, on the same channel
    notices = [d["payload"] for deliveries in receiver.received.values() for d in deliveries
               if d["payload"]["data"]["publication_id"] == pub_id and d["payload"]["type"] == "policy.validity_changed"]
    assert len(notices) == sum(channels == ["webhook"] for channels in first.values())
    for notice in notices:
        data = notice["data"]
        assert data["validity"] == "废止" and data["index_no"] == policy_body["index_no"]
        assert data["replacement"]["url"] == decision_url and "的决定" in data["replacement"]["title"]
    lapse_sms = [m for m in inspect(push_system, "sms")["messages"] if carries(m, pub_id)
                 and m["params"].get("reason") == "已废止"]
    assert len(lapse_sms) == sum(channels == ["sms"] for channels in first.values())


def test_expiry_by_the_pipeline_clock_sends_the_same_one_notice(
        push_system: GovcastProcess, receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]]) -> None:
    department = department_of(push_system)
    tomorrow = (dt.datetime.now(BEIJING) + dt.timedelta(days=1)).date().isoformat()
    body = push_and_wait(department, "关于专精特新中小企业首台套产品应用的阶段性奖励办法", expiry_date=tomorrow)
    first = reached(push_system, receivers, rows, body["id"])
    assert first
    moved = requests.post(f"{push_system.url}/sandbox/_clock", json={"advance_seconds": 2 * 86400},
                          headers=push_system.operator_headers(), timeout=10)
    assert moved.status_code == 200, moved.text
    lapsed = department.wait_for(body["id"], "delivered", version=2, timeout=120)
    assert lapsed["validity"] == "失效"
    assert lapsed["campaign"]["delivered"] == len(first), lapsed["campaign"]
    after = reached(push_system, receivers, rows, body["id"])
    assert after == {code: channels * 2 for code, channels in first.items()}
    notices = [d["payload"]["data"] for deliveries in receivers[0].received.values() for d in deliveries
               if d["payload"]["data"]["publication_id"] == body["id"] and d["payload"]["type"] == "policy.validity_changed"]
    assert notices and all(n["validity"] == "失效" and n["replacement"] is None for n in notices)
