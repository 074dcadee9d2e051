"""Policy push end to end: import businesses, publish with targeting, exactly the matching ones receive it once
on their preferred channel (a real webhook receiver verifying Standard Webhooks signatures, a real SMTP server),
the status shows the counts, and a one-click unsubscribe stops further pushes."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from govcast.sinks import SmtpSink
from tests.conftest import Client, GovcastProcess, cli, launch
from tests.push_support import Receiver, business, expected, write_csv

TARGET = {"regions": ["历下区", "高新区"], "industries": ["C39"], "qualifications": ["专精特新中小企业"]}


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
    done = cli("subscribers", "import", str(write_csv(base / "subs.csv", rows)), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_PUSH_SMTP_HOST": "127.0.0.1",
           "GOVCAST_PUSH_SMTP_PORT": str(receivers[1].port)}
    process = launch(request, host, data, env=env)
    yield process
    process.stop()


def mails_by_recipient(smtp: SmtpSink) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in smtp.store.messages:
        out.setdefault(m["to"][0], []).append(message_from_bytes(m["raw"], policy=policy.default))
    return out


def reached(receiver: Receiver, smtp: SmtpSink, rows: list[dict[str, Any]], pub_id: str) -> dict[str, list[str]]:
    """credit code -> channels that carried publication `pub_id` to it (counted at the receivers)."""
    by_email = {r["email"]: r["credit_code"] for r in rows}
    out: dict[str, list[str]] = {}
    for deliveries in receiver.received.values():
        for d in deliveries:
            if d["payload"]["data"]["publication_id"] == pub_id:
                out.setdefault(d["payload"]["data"]["credit_code"], []).append("webhook")
    for address, msgs in mails_by_recipient(smtp).items():
        for msg in msgs:
            if pub_id in msg.get_body(("plain",)).get_content():  # type: ignore[union-attr]
                out.setdefault(by_email[address], []).append("email")
    return out


def push_and_wait(department: Client, title: str) -> dict[str, Any]:
    response = department.submit(sample_policy(title=title, targeting=TARGET, channels=["portal", "push"]))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = department.get(pub_id)
        push = body["deliveries"].get("push", {})
        if push.get("status") == "delivered" and "pending 0" in (push.get("detail") or ""):
            return body
        time.sleep(0.2)
    raise AssertionError(f"push never finished: {body}")


def test_matching_businesses_receive_it_once_then_unsubscribe_stops_pushes(
        push_system: GovcastProcess, receivers: tuple[Receiver, SmtpSink], rows: list[dict[str, Any]]) -> None:
    receiver, smtp = receivers
    department = Client(push_system.url, push_system.token("department", DEMO_DEPARTMENT["name"],
                                                           DEMO_DEPARTMENT["publisher_code"]))
    want = expected(rows, regions=set(TARGET["regions"]), industry="C39", quals={"专精特新中小企业"})
    assert len(want) > 50
    body = push_and_wait(department, "关于支持专精特新中小企业高质量发展的若干措施")
    pub_id = body["id"]
    detail = body["deliveries"]["push"]["detail"]
    assert f"matched {len(want)}, delivered {len(want)}, failed 0" in detail, detail
    got = reached(receiver, smtp, rows, pub_id)
    assert set(got) == want  # exactly the matching businesses
    preferred = {r["credit_code"]: r["channels"].split("|")[0] for r in rows}
    assert all(channels == [preferred[code]] for code, channels in got.items())  # once, on the preferred channel
    assert receiver.bad_signatures == 0

    # The message names the policy, why it matches, and links to the portal page.
    only_email = {r["credit_code"] for r in rows if r["channels"] == "email"}
    email_code = next(code for code, ch in got.items() if ch == ["email"] and code in only_email)
    address = next(r["email"] for r in rows if r["credit_code"] == email_code)
    [msg] = mails_by_recipient(smtp)[address]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "专精特新" in text and "推送原因" in text
    link = re.search(r"查看全文：(\S+)", text).group(1)  # type: ignore[union-attr]
    assert requests.get(link, timeout=10).status_code == 200

    # One-click unsubscribe (RFC 8058): POST, no cookies, no redirect.
    unsubscribe = str(msg["List-Unsubscribe"]).strip("<>")
    answer = requests.post(unsubscribe, data="List-Unsubscribe=One-Click", allow_redirects=False, timeout=10,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200

    second = push_and_wait(department, "关于专精特新中小企业融资支持的补充通知")
    got2 = reached(receiver, smtp, rows, second["id"])
    assert email_code not in got2 and set(got2) == want - {email_code}
    assert f"matched {len(want) - 1}, delivered {len(want) - 1}" in second["deliveries"]["push"]["detail"]


def test_publication_without_targeting_still_delivers(push_system: GovcastProcess) -> None:
    department = Client(push_system.url, push_system.token("department", DEMO_DEPARTMENT["name"],
                                                           DEMO_DEPARTMENT["publisher_code"]))
    response = department.submit(sample_policy(title="无定向推送的普通通知"))
    body = department.wait_for(response.json()["id"], "delivered", timeout=60)
    assert body["deliveries"]["push"]["detail"].startswith("matched 0")


def test_receivers_saw_no_duplicates(receivers: tuple[Receiver, SmtpSink]) -> None:
    receiver, smtp = receivers
    assert all(len(v) == 1 for v in receiver.received.values())
    ids = [m["message_id"] for m in smtp.store.messages]
    assert len(ids) == len(set(ids))
