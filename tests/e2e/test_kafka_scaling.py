"""Kafka mode while the system changes under load: workers join and leave (a worker SIGKILLed and the broker
restarted are chaos scenarios, tests/chaos/test_kafka.py, which use this module's cluster helpers).

Each test runs `govcast api --broker` and `govcast worker --broker` processes as an operator starts them. The
workers share one data dir (portal output and the SQLite status store: supported, flock + WAL) and one
`--public-url`, so every worker renders the same links. Publications go to the portal only (channels ["portal"]):
hundreds of posts in seconds would hit the WeChat/Weibo sandboxes' rate limits, which is not what is tested here.

"Exactly once as seen by the channel": the portal's index.json lists each publication once, there is one page
per publication, and each publication's status timeline has exactly one portal "delivered" for version 1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import PROCESS_DEFAULTS, ROOT, Client, cli, free_port
from tests.e2e.portal_html import index_entries
from tests.kafka_fixtures import SCRIPT, KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START_TIMEOUT = 90.0  # a worker's imports, first metadata round trips and group join, on a loaded 2-core CI box
DELIVERY_TIMEOUT = 300.0  # generous: the tests themselves take well under this
# A SIGKILLed worker holds its partitions until the broker gives up on its session (faust's default: 60 s).
# faust reads BROKER_SESSION_TIMEOUT / BROKER_HEARTBEAT_INTERVAL from the environment; 10 s keeps the crash
# scenario (tests/chaos/test_kafka.py) short and is the same failover, only sooner.
FAST_FAILOVER = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
ASSIGNED = re.compile(r"partitions assigned here \((\d+)\): (.*)$", re.M)
PIPELINE_READY = "Kafka pipeline ready"


def eventually(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def parse_assignment(text: str) -> dict[str, set[int]]:
    """The worker's log form "govcast.status[0,2] govcast.publications[1,3]" -> {topic: partitions}."""
    out: dict[str, set[int]] = {}
    for part in text.split():
        if m := re.fullmatch(r"(.+)\[([\d,]*)\]", part):
            out[m.group(1)] = {int(p) for p in m.group(2).split(",") if p}
    return out


@dataclass
class Cluster:
    """One API and any number of workers on the test broker, sharing a data dir."""

    broker: KafkaBroker
    base: Path
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[str] | None = None
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # for every process and command (e.g. GOVCAST_STORE_URL)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.base / "data"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        common = ["--data-dir", str(self.data), "--broker", self.broker.url, "--public-url", self.url]
        proc = subprocess.Popen([sys.executable, "-m", "govcast.cli", *args, *common],
                                stdout=(self.base / f"{name}.log").open("w"), stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT, env={**os.environ, **PROCESS_DEFAULTS, **self.env, **(env or {})})
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.base / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def start_api(self) -> Client:
        self.api = self._spawn("api", ["api", "--port", str(self.port)])

        def answering() -> bool:
            assert self.api is not None and self.api.poll() is None, self.log("api")[-3000:]
            try:
                return requests.get(f"{self.url}/readyz", timeout=2).ok
            except requests.RequestException:
                return False

        eventually(answering, START_TIMEOUT, "the API")
        token = cli("token", "create", "--data-dir", str(self.data), "--kind", "department", "--name",
                    DEMO_DEPARTMENT["name"], "--publisher-code", DEMO_DEPARTMENT["publisher_code"], env=self.env)
        assert token.returncode == 0, token.stderr
        return Client(self.url, token.stdout.strip())

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return self._spawn(name, ["worker"], env)

    def wait_ready(self, name: str) -> None:
        def ready() -> bool:
            assert self.procs[name].poll() is None, f"{name} exited:\n{self.log(name)[-3000:]}"
            return PIPELINE_READY in self.log(name)

        eventually(ready, START_TIMEOUT, f"worker {name} to join the group")

    def assignments(self, name: str) -> list[dict[str, set[int]]]:
        return [parse_assignment(m.group(2)) for m in ASSIGNED.finditer(self.log(name))]

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{name} did not stop within {timeout} s of signal {sig}:\n{self.log(name)[-3000:]}") from exc
        return int(proc.returncode)

    def close(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name == "api" else signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def delivered_count(self, client: Client) -> int:
        response = requests.get(f"{self.url}/v1/publications", params={"status": "delivered", "per_page": 1},
                                headers={"Authorization": f"Bearer {client.token}"}, timeout=30)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])


@pytest.fixture
def cluster(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[Cluster]:
    kafka_broker.skip_to_end()  # a fresh system: not what earlier tests left on the topics
    c = Cluster(kafka_broker, tmp_path)
    try:
        yield c
    finally:
        c.close()


def payload(i: int, tag: str) -> dict[str, Any]:
    return sample_policy(title=f"{tag}测试通知第{i + 1}号", channels=["portal"])


class Publisher:
    """Submits n publications from a few client threads; item i waits until gate(i) allows it.

    A connection error or 503 is retried with the same Idempotency-Key, as a real client would.
    """

    def __init__(self, client: Client, n: int, tag: str, gate: Callable[[int], None] = lambda i: None) -> None:
        self.client, self.n, self.tag, self.gate = client, n, tag, gate
        self.keys = [str(uuid.uuid4()) for _ in range(n)]
        self.accepted: dict[int, str] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _one(self, i: int) -> None:
        self.gate(i)
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            try:
                response = self.client.submit(payload(i, self.tag), key=self.keys[i])
                if response.status_code == 202:
                    with self.lock:
                        self.accepted[i] = response.json()["id"]
                    return
                assert response.status_code == 503, response.text
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"item {i} never accepted"
            time.sleep(0.5)

    def _run(self) -> None:
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(self._one, range(self.n)))
        except BaseException as exc:
            self.error = exc

    def start(self) -> Publisher:
        self.thread.start()
        return self

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def join(self) -> list[str]:
        self.thread.join(DELIVERY_TIMEOUT)
        assert not self.thread.is_alive(), "publishing did not finish"
        if self.error:
            raise self.error
        assert len(self.accepted) == self.n
        ids = list(self.accepted.values())
        assert len(set(ids)) == self.n  # n publications, not replays of fewer
        return ids


def assert_each_delivered_exactly_once(cluster: Cluster, client: Client, ids: list[str]) -> None:
    started = time.monotonic()
    eventually(lambda: cluster.delivered_count(client) >= len(ids), DELIVERY_TIMEOUT,
               f"{len(ids)} publications delivered", every=1.0)
    print(f"all {len(ids)} delivered {time.monotonic() - started:.1f} s after the last wait began")
    entries = index_entries(f"{cluster.url}/portal/index.json")
    assert Counter(e["id"] for e in entries) == Counter(ids)  # each listed exactly once, none missing, no others
    pages = sorted(p.name for p in (cluster.data / "portal").rglob("pub_*.html"))
    assert len(pages) == len(ids) and len(set(pages)) == len(ids)
    assert all(any(pub_id in name for name in pages) for pub_id in ids[:20])  # the pages are ours

    def delivered_once(pub_id: str) -> None:
        body = client.get(pub_id)
        assert body["status"] == "delivered" and body["deliveries"]["portal"]["status"] == "delivered", body
        assert body["deliveries"]["portal"]["url"].startswith(f"{cluster.url}/portal/")
        portal = [e for e in body["timeline"] if e["channel"] == "portal" and e["status"] == "delivered"]
        assert [e["version"] for e in portal] == [1], body["timeline"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(delivered_once, ids))


# ---------------------------------------------------------------- scale-out


def test_worker_added_and_removed_while_publishing_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    n = 500
    client = cluster.start_api()
    cluster.start_worker("a")
    cluster.wait_ready("a")
    b_started, b_joined, a_stopping = threading.Event(), threading.Event(), threading.Event()

    def gate(i: int) -> None:
        # Publishing goes on throughout: items 100..299 while B starts and joins, 300..399 while A is being
        # stopped, the rest after; each phase begins only once the change before it has happened.
        for threshold, event in ((100, b_started), (300, b_joined), (400, a_stopping)):
            if i >= threshold:
                assert event.wait(DELIVERY_TIMEOUT)

    publisher = Publisher(client, n, "扩容", gate).start()
    eventually(lambda: publisher.count >= 100, DELIVERY_TIMEOUT, "the first 100 accepted")
    cluster.start_worker("b")
    b_started.set()
    cluster.wait_ready("b")
    topic = "govcast.deliveries.portal"
    every = cluster.assignments("a")[0][topic]  # alone in the group, A held every partition
    assert len(every) >= 2, cluster.assignments("a")

    def split() -> tuple[set[int], set[int]] | None:
        # Both hold partitions now: A gave up part of its own in the rebalance B's join caused.
        a, b = cluster.assignments("a")[-1].get(topic, set()), cluster.assignments("b")[-1].get(topic, set())
        return (a, b) if a and b and a.isdisjoint(b) and a | b == every else None

    a_part, b_part = eventually(split, START_TIMEOUT, "A and B to split the partitions")
    print(f"{topic}: A holds {sorted(a_part)}, B holds {sorted(b_part)}")
    b_joined.set()
    eventually(lambda: publisher.count >= 350, DELIVERY_TIMEOUT, "350 accepted")
    before = cluster.delivered_count(client)
    cluster.procs["a"].send_signal(signal.SIGTERM)
    a_stopping.set()
    assert cluster.stop("a") == 0, cluster.log("a")[-3000:]
    ids = publisher.join()
    print(f"{before} of {n} delivered when A was stopped")
    assert before < n, "everything was delivered before A left; the test proves nothing"

    assert_each_delivered_exactly_once(cluster, client, ids)

    # B took over all the partitions once A had left.
    assert cluster.assignments("b")[-1][topic] == every, cluster.assignments("b")
    assert cluster.procs["b"].poll() is None, cluster.log("b")[-3000:]


# ---------------------------------------------------------------- broker control (tests/chaos/test_kafka.py)


def kafka_local(broker: KafkaBroker, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), command], env=broker.env, capture_output=True, text=True, timeout=300,
                          check=False)
