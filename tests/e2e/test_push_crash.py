"""kill -9 in the middle of a 10,000-business push: after a restart every business has exactly one delivery,
counted at the receivers by delivery id (webhook-id / Message-ID); receivers may see a message again after
the crash (at-least-once), but never a second delivery id for the same business."""

from __future__ import annotations

import random
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from govcast.sinks import SmtpSink
from tests.conftest import Client, GovcastProcess, cli
from tests.push_support import REGIONS, Receiver, business, write_csv

BUSINESSES = 10_000


def delivery_ids(receiver: Receiver, smtp: SmtpSink, pub_id: str) -> dict[str, Counter[str]]:
    """credit code -> delivery id -> times it arrived, at both receivers."""
    out: dict[str, Counter[str]] = {}
    for msg_id, arrivals in list(receiver.received.items()):
        for arrival in arrivals:
            data = arrival["payload"]["data"]
            if data["publication_id"] == pub_id:
                out.setdefault(data["credit_code"], Counter())[msg_id] += 1
    for raw in list(smtp.store.messages):
        msg = message_from_bytes(raw["raw"], policy=policy.default)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        if pub_id in text:
            code = str(msg["To"]).removeprefix("biz").split("@")[0]
            out.setdefault(code, Counter())[str(msg["Message-ID"])] += 1
    return out


@pytest.mark.slow
def test_sigkill_during_a_10000_business_push_delivers_each_exactly_once(tmp_path: Path) -> None:
    receiver, smtp = Receiver().start(), SmtpSink().start()
    rng = random.Random(10_000)
    rows: list[dict[str, Any]] = []
    for n in range(1, BUSINESSES + 1):
        row = business(n, rng, webhook_base=receiver.url)
        row["channels"] = "email" if n % 10 == 0 else "webhook"  # mostly webhooks, some mail over real SMTP
        row["email"] = f"biz{n}@example.test"
        rows.append(row)
    number = {r["credit_code"]: n for n, r in enumerate(rows, start=1)}
    data = tmp_path / "data"
    done = cli("subscribers", "import", str(write_csv(tmp_path / "subs.csv", rows)), "--data-dir", str(data), timeout=300,
               env={"GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"})  # the test receiver is on loopback
    assert done.returncode == 0, done.stderr
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_PUSH_SMTP_HOST": "127.0.0.1", "GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
           "GOVCAST_PUSH_SMTP_PORT": str(smtp.port)}
    process = GovcastProcess(data, env=env).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"],
                                                   DEMO_DEPARTMENT["publisher_code"]))
        response = client.submit(sample_policy(title="关于全市企业稳岗就业政策的通知", channels=["portal", "push"],
                                               targeting={"regions": REGIONS}))
        assert response.status_code == 202, response.text
        pub_id = response.json()["id"]

        deadline = time.monotonic() + 120
        while len(receiver.received) < 2_000:  # well into the push, far from its end
            assert time.monotonic() < deadline, f"push did not get going: {len(receiver.received)}"
            time.sleep(0.05)
        process.kill9()
        before = len(receiver.received) + len(smtp.store.messages)
        assert before < BUSINESSES, "the push finished before the kill: the test proves nothing"

        process.start()
        deadline = time.monotonic() + 300
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = client.get(pub_id)
            campaign = body.get("campaign") or {}
            if campaign.get("delivered") == BUSINESSES and body["deliveries"]["push"]["status"] == "delivered":
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"push did not finish after the restart: {body.get('campaign')}")
    finally:
        process.stop()
        receiver.stop()
        smtp.stop()

    got = delivery_ids(receiver, smtp, pub_id)
    by_number = {str(number[code]) if code in number else code: ids for code, ids in got.items()}
    assert len(by_number) == BUSINESSES  # every business reached
    assert all(len(ids) == 1 for ids in by_number.values()), [c for c, ids in by_number.items() if len(ids) > 1][:5]
    assert receiver.bad_signatures == 0
    campaign = body["campaign"]
    assert campaign["matched"] == BUSINESSES and campaign["failed"] == 0 and campaign["sent"] == 0
    resent = sum(sum(ids.values()) - 1 for ids in by_number.values())
    print(f"killed after {before} deliveries; {resent} message(s) arrived twice (same delivery id, deduplicated)")
