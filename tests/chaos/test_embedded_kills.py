"""Chaos, embedded mode: `govcast run` SIGKILLed at random points -- from outside in the middle of a batch, at each
named step of the submit path (persistence.faults), and in the middle of a push to thousands of businesses.

After a restart and the clients' retries (same Idempotency-Key) every accepted publication is delivered exactly
once: one portal page, one entry in the portal's index, sitemap and feed, one `delivered` in its timeline, no
索引号 given twice, nothing published that the API cannot find; every business gets one delivery id.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from govcast.sinks import SmtpSink
from tests.chaos.report import count
from tests.chaos.support import Submissions, delivered_total, each_delivered_once, portal_held, wait_delivered
from tests.conftest import Client, GovcastProcess, cli
from tests.e2e.portal_html import feed_links, sitemap_urls
from tests.push_support import REGIONS, Receiver, business, write_csv

pytestmark = pytest.mark.slow

BATCH = 40  # the life killed from outside
ITEMS = 10  # each life killed at a kill point: two clients, so at least five commits, past any hit
# No relay steps: the log lives in the store's file and a submission's event commits with its rows
# (processors.outbox). A relay killed between its append and its delete: tests/processors/test_outbox.py.
STEPS = ["commit:before", "commit:inside", "commit:after"]
# The coalescing refresher as in production: site-wide pages owed at a kill are written after the restart.
REFRESH = {"GOVCAST_PORTAL_REFRESH_SECONDS": "0.5"}


def test_sigkill_of_the_embedded_process_at_random_points(tmp_path: Path, chaos_rng: random.Random) -> None:
    data = tmp_path / "data"
    subs = Submissions("崩溃恢复")
    process = GovcastProcess(data, env=dict(REFRESH)).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))

        # Life 1: kill -9 from outside once a random share of a batch has been answered.
        kill_after = chaos_rng.randint(BATCH // 5, BATCH * 3 // 5)
        killing = threading.Lock()

        def maybe_kill(i: int) -> None:
            with killing:
                if len(subs.answered) >= kill_after and process.proc and process.proc.poll() is None:
                    process.kill9()

        subs.many(client, subs.add(BATCH), threads=4, after=maybe_kill)
        assert process.proc and process.proc.returncode == -9, "the batch finished before the kill; proves nothing"
        assert 0 < len(subs.answered) < BATCH
        faults = [f"kill -9 after {kill_after}/{BATCH} answers"]

        # Lives 2-4: killed by the process itself at each step of the submit path, in random order, at a random
        # hit (from 2).
        for step in chaos_rng.sample(STEPS, len(STEPS)):
            hit = chaos_rng.randint(2, 4)
            process.env = {**REFRESH, "GOVCAST_KILL_AT": f"{step}:{hit}"}
            process.start()
            answered = len(subs.answered)
            subs.many(client, subs.add(ITEMS))
            assert process.proc is not None and process.proc.wait(timeout=30) == -9, f"kill point {step}:{hit} never fired"
            assert len(subs.answered) - answered < ITEMS
            faults.append(f"{step}:{hit}")

        process.env = dict(REFRESH)
        process.start()  # same data dir, same port, no kill point
        restarted = time.monotonic()
        ids = subs.settle(client)  # the client retries whatever it has no answer for
        done = wait_delivered(process.url, client, ids, timeout=180)
        deadline = time.monotonic() + 30  # the last refresh comes up to 0.5 s after the last delivery
        while sum((held := portal_held(process.url)).values()) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        count("embedded SIGKILL", ids, held, done - restarted, "; ".join(faults))

        assert Counter(held) == Counter(ids)  # each exactly once, and nothing the API cannot find
        bodies = each_delivered_once(client, ids)
        assert len({b["index_no"] for b in bodies}) == len(ids)  # no 索引号 twice
        assert len(list((data / "portal").rglob("pub_*.html"))) == len(ids)
        urls = sitemap_urls(f"{process.url}/portal/sitemap.xml")
        assert len(urls) == len(set(urls)) and sum(1 for u in urls if "/pub_" in u) == len(ids)
        feed = feed_links(f"{process.url}/portal/feed.xml")
        assert len(feed) == len(set(feed)) > 0
        listed = requests.get(f"{process.url}/v1/publications", params={"per_page": 1},
                              headers={"Authorization": f"Bearer {client.token}"}, timeout=10).json()
        assert listed["total"] == len(ids) == delivered_total(process.url, client)  # no orphan publication
    finally:
        process.stop()


# -- several API processes ----------------------------------------------------------------------------------------

# `--api-processes` refuses sandbox mode (its platforms live in one process); the portal needs none
SEVERAL = {**REFRESH, "GOVCAST_SANDBOXES": "false", "GOVCAST_CHANNELS": "portal"}


def api_children(pid: int) -> list[int]:
    """The extra API processes `govcast run` (pid) started (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigkill_of_an_api_process_when_several_serve(tmp_path: Path, chaos_rng: random.Random) -> None:
    """An extra API process killed mid-batch is started again; the main one killed takes the others with it (the
    port is free for the restart); every 202, whichever process gave it, is delivered exactly once."""
    data = tmp_path / "data"
    subs = Submissions("多进程崩溃")
    process = GovcastProcess(data, extra_args=["--api-processes", "2"], env=dict(SEVERAL)).start()
    try:
        assert process.proc is not None
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        (child,) = api_children(process.proc.pid)

        # Life 1: kill -9 the extra API process once a random share of a batch has been answered.
        kill_after = chaos_rng.randint(BATCH // 5, BATCH * 3 // 5)
        killing = threading.Lock()

        def kill_child(i: int) -> None:
            with killing:
                if len(subs.answered) >= kill_after and alive(child):
                    os.kill(child, signal.SIGKILL)

        subs.many(client, subs.add(BATCH), threads=4, after=kill_child)
        assert not alive(child), "the batch finished before the kill; proves nothing"
        deadline = time.monotonic() + 30
        while not (restarted := api_children(process.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert restarted and restarted != [child], "the killed API process was not started again"
        subs.many(client, subs.add(ITEMS))  # both processes serve again
        assert all(subs.keys[i] in subs.answered for i in range(BATCH, BATCH + ITEMS))

        # Life 2: kill -9 the main process (pipeline and API) mid-batch: its child must go too.
        children = api_children(process.proc.pid)
        kill_after = len(subs.answered) + chaos_rng.randint(ITEMS // 5, ITEMS * 3 // 5)

        def kill_main(i: int) -> None:
            with killing:
                if len(subs.answered) >= kill_after and process.proc and process.proc.poll() is None:
                    process.kill9()

        subs.many(client, subs.add(BATCH), threads=4, after=kill_main)
        assert process.proc.returncode == -9, "the batch finished before the kill; proves nothing"
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in children), "an API process outlived govcast run (it holds the port)"

        process.start()  # same data dir, same port
        ids = subs.settle(client)  # the client retries whatever it has no answer for
        wait_delivered(process.url, client, ids, timeout=180)
        deadline = time.monotonic() + 30  # the last refresh comes up to 0.5 s after the last delivery
        while sum((held := portal_held(process.url)).values()) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert Counter(held) == Counter(ids)  # each exactly once, and nothing the API cannot find
        bodies = each_delivered_once(client, ids)
        assert len({b["index_no"] for b in bodies}) == len(ids)  # no 索引号 twice
        assert delivered_total(process.url, client) == len(ids)
    finally:
        process.stop()


# -- push ------------------------------------------------------------------------------------------------------

BUSINESSES = 2_000
KILL_AT_RECEIVED = 400  # well into the push, far from its end


def delivery_ids(receiver: Receiver, smtp: SmtpSink, pub_id: str) -> dict[str, Counter[str]]:
    """credit code -> delivery id (webhook-id / Message-ID) -> times it arrived, at both receivers."""
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


def test_sigkill_during_a_push_delivers_to_each_business_exactly_once(tmp_path: Path) -> None:
    """Receivers may see a message again after the crash (at-least-once), never a second delivery id."""
    receiver, smtp = Receiver().start(), SmtpSink().start()
    rng = random.Random(BUSINESSES)
    rows: list[dict[str, Any]] = []
    for n in range(1, BUSINESSES + 1):
        row = business(n, rng, webhook_base=receiver.url)
        row["channels"] = "email" if n % 10 == 0 else "webhook"  # mostly webhooks, some mail over real SMTP
        row["email"] = f"biz{n}@example.test"
        rows.append(row)
    number = {r["credit_code"]: n for n, r in enumerate(rows, start=1)}
    data = tmp_path / "data"
    loopback = {"GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}  # the test receiver is on loopback
    done = cli("subscribers", "import", str(write_csv(tmp_path / "subs.csv", rows)), "--data-dir", str(data),
               timeout=300, env=loopback)
    assert done.returncode == 0, done.stderr
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_PUSH_SMTP_HOST": "127.0.0.1", "GOVCAST_PUSH_SMTP_PORT": str(smtp.port),
           **loopback}
    process = GovcastProcess(data, env=env).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        response = client.submit(sample_policy(title="关于全市企业稳岗就业政策的通知", channels=["portal", "push"],
                                               targeting={"regions": REGIONS}))
        assert response.status_code == 202, response.text
        pub_id = response.json()["id"]

        deadline = time.monotonic() + 120
        while len(receiver.received) < KILL_AT_RECEIVED:
            assert time.monotonic() < deadline, f"push did not get going: {len(receiver.received)}"
            time.sleep(0.02)
        process.kill9()
        before = len(receiver.received) + len(smtp.store.messages)
        assert before < BUSINESSES, "the push finished before the kill: the test proves nothing"

        process.start()
        restarted = time.monotonic()
        deadline = restarted + 240
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = client.get(pub_id)
            campaign = body.get("campaign") or {}
            if campaign.get("delivered") == BUSINESSES and body["deliveries"]["push"]["status"] == "delivered":
                break
            time.sleep(0.5)
        recovered = time.monotonic() - restarted
    finally:
        process.stop()
        receiver.stop()
        smtp.stop()

    got = delivery_ids(receiver, smtp, pub_id)
    by_number = {str(number[code]) if code in number else code: ids for code, ids in got.items()}
    count("embedded SIGKILL mid-push", [str(n) for n in range(1, BUSINESSES + 1)],
          Counter({code: len(ids) for code, ids in by_number.items()}), recovered,
          f"kill -9 after {before}/{BUSINESSES} businesses reached")
    assert len(by_number) == BUSINESSES  # every business reached
    assert all(len(ids) == 1 for ids in by_number.values()), [c for c, ids in by_number.items() if len(ids) > 1][:5]
    assert receiver.bad_signatures == 0
    campaign = body["campaign"]
    assert campaign["matched"] == BUSINESSES and campaign["failed"] == 0 and campaign["sent"] == 0, campaign
    assert body["deliveries"]["push"]["status"] == "delivered", body["deliveries"]
    resent = sum(sum(ids.values()) - 1 for ids in by_number.values())
    print(f"killed after {before} deliveries; {resent} message(s) arrived twice (same delivery id, deduplicated)")
