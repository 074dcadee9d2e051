"""Chaos, distributed mode (`govcast api` + `govcast worker` on a real Kafka broker): a worker SIGKILLed in the
middle of deliveries, the broker stopped and started under load, PostgreSQL (the status store) stopped for longer
than the poison-input budget.

"Exactly once as seen by the channel": the portal's index.json lists each publication once, one page each, and
each timeline has exactly one portal `delivered` (tests.e2e.test_kafka_scaling.assert_each_delivered_exactly_once).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.chaos.report import count
from tests.chaos.support import delivered_total, portal_held, wait_delivered
from tests.conftest import ROOT, Client
from tests.e2e.test_kafka_scaling import (
    DELIVERY_TIMEOUT,
    FAST_FAILOVER,
    Cluster,
    Publisher,
    assert_each_delivered_exactly_once,
    eventually,
    kafka_local,
    payload,
)
from tests.kafka_fixtures import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def cluster(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[Cluster]:
    kafka_broker.skip_to_end()  # a fresh system: not what earlier tests left on the topics
    c = Cluster(kafka_broker, tmp_path)
    try:
        yield c
    finally:
        c.close()


def settle(cluster: Cluster, client: Client, ids: list[str], scenario: str, since: float, fault: str) -> None:
    """Wait for every id, record the row, then assert each was delivered exactly once."""
    done = wait_delivered(cluster.url, client, ids, timeout=DELIVERY_TIMEOUT)
    count(scenario, ids, portal_held(cluster.url), done - since, fault)
    assert_each_delivered_exactly_once(cluster, client, ids)


def test_worker_sigkill_then_broker_restart(cluster: Cluster, kafka_broker: KafkaBroker, chaos_rng: random.Random) -> None:
    client = cluster.start_api()
    cluster.start_worker("a", FAST_FAILOVER)
    cluster.wait_ready("a")

    # 1. SIGKILL of the only worker at a random point of the deliveries; a new worker takes over its partitions.
    n = 150
    publisher = Publisher(client, n, "崩溃").start()
    kill_at = chaos_rng.randint(n // 5, n // 2)
    eventually(lambda: cluster.delivered_count(client) >= kill_at, DELIVERY_TIMEOUT, f"{kill_at} delivered", every=0.1)
    assert cluster.stop("a", signal.SIGKILL) == -signal.SIGKILL
    killed = time.monotonic()
    at_kill = cluster.delivered_count(client)
    print(f"SIGKILL after {at_kill} of {n} delivered ({publisher.count} accepted)")
    assert at_kill < n, "everything was delivered before the kill; the test proves nothing"
    cluster.start_worker("b", FAST_FAILOVER)
    ids = publisher.join()
    cluster.wait_ready("b")
    settle(cluster, client, ids, "Kafka worker SIGKILL", killed, f"kill -9 of the worker after {at_kill}/{n} delivered")

    # 2. The broker stops with accepted work undelivered: submissions are still accepted (the store's outbox), the
    # worker keeps running, and everything is delivered once after the broker is back.
    ids += Publisher(client, 20, "重启前").start().join()
    eventually(lambda: cluster.delivered_count(client) >= n + 5, DELIVERY_TIMEOUT, "the first deliveries")
    stopped = False
    # Half of these are submitted before the stop, half once the broker is down: a worker that keeps up with the
    # submissions (three Kafka messages per publication since 2026-12-03) may have delivered all of the first half.
    broker_down = threading.Event()
    publishing = Publisher(client, 60, "重启中", gate=lambda i: None if i < 30 else broker_down.wait()).start()
    try:
        eventually(lambda: publishing.count >= 30, DELIVERY_TIMEOUT, "the first half accepted", every=0.1)
        down = kafka_local(kafka_broker, "stop")
        stopped = True
        broker_down.set()
        assert down.returncode == 0, down.stderr
        ids += publishing.join()
        at_stop = cluster.delivered_count(client)
        print(f"broker stopped after {at_stop} of {len(ids)} delivered")
        assert at_stop < len(ids), "everything was delivered before the broker stopped; the test proves nothing"

        during = client.submit(payload(0, "停机"))  # accepted all the same: relayed once the broker is back
        assert during.status_code == 202, during.text
        ids.append(during.json()["id"])
        listed = requests.get(f"{cluster.url}/v1/publications", params={"per_page": 1},
                              headers={"Authorization": f"Bearer {client.token}"}, timeout=30).json()
        assert listed["total"] == len(ids)
        time.sleep(3)  # the worker keeps running without its broker
        assert cluster.procs["b"].poll() is None, cluster.log("b")[-3000:]

        up = kafka_local(kafka_broker, "start")
        assert up.returncode == 0, up.stderr
        stopped = False
    finally:
        broker_down.set()  # never leave the publisher's threads waiting
        if stopped:  # other tests share this broker: leave it running whatever happened
            kafka_local(kafka_broker, "start")
    settle(cluster, client, ids, "Kafka broker stop/start", time.monotonic(),
           f"broker down with {len(ids) - at_stop} undelivered, 1 submitted while down")

    def accepted_again() -> requests.Response | None:
        response = client.submit(payload(1, "恢复"))
        assert response.status_code in (202, 503), response.text
        return response if response.status_code == 202 else None

    again = eventually(accepted_again, 60, "submissions to be accepted again", every=1.0)
    assert client.wait_for(again.json()["id"], "delivered", timeout=DELIVERY_TIMEOUT)["status"] == "delivered"
    assert cluster.procs["b"].poll() is None, cluster.log("b")[-3000:]


# -- PostgreSQL ------------------------------------------------------------------------------------------------

POSTGRES_LOCAL = str(ROOT / "deploy" / "dev" / "postgres-local")
# Longer than the poison-input budget: a stage failing five times for another reason than an outage (2+4+8+16 s
# of backoff) parks its input; before issue 10's fix a status update was dead-lettered this way.
OUTAGE_SECONDS = 40


@contextmanager
def private_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of this test's own (it is stopped and started again): (URL, data dir). Its directory is
    made under the system temp dir, not pytest's tmp_path: as root the server runs as user postgres, which
    cannot enter pytest's private (0700) base directory."""
    base = Path(tempfile.mkdtemp(prefix="govcast-pg-outage-"))
    env = {**os.environ, "GOVCAST_PG_DIR": str(base)}
    if subprocess.run([POSTGRES_LOCAL, "installed"], env=env, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; CI must have them")
        pytest.skip("PostgreSQL server binaries are not installed")
    subprocess.run([POSTGRES_LOCAL, "start"], env=env, check=True, capture_output=True, timeout=180)
    try:
        url = subprocess.run([POSTGRES_LOCAL, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        yield url, base / "data"
    finally:
        subprocess.run([POSTGRES_LOCAL, "stop"], env=env, check=False, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def pg_ctl(data: Path, *args: str) -> None:
    """Stop or start the server in place (same port, same data): `postgres-local start` would pick a new port."""
    binary = next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), None) or Path("pg_ctl")
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*owner, str(binary), "-D", str(data), "-w", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.postgres
def test_worker_waits_out_a_stopped_postgresql(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.skip_to_end()
    with private_postgres() as (url, data):
        cluster = Cluster(kafka_broker, tmp_path, env={"GOVCAST_STORE_URL": url})
        try:
            client = cluster.start_api()
            cluster.start_worker("w")
            cluster.wait_ready("w")
            first = Publisher(client, 5, "库停机前").start().join()
            eventually(lambda: cluster.delivered_count(client) >= len(first), DELIVERY_TIMEOUT, "the first deliveries")
            # The worker keeps up with a burst (three Kafka messages per publication), so it would project
            # everything before PostgreSQL stops: it is paused while the next ones are accepted and relayed to
            # Kafka, and resumed once the store is down, so it plans and delivers them and must wait to record it.
            worker = cluster.procs["w"]
            worker.send_signal(signal.SIGSTOP)
            try:
                ids = first + Publisher(client, 20, "库停机").start().join()
                time.sleep(2)  # the API's relay hands them to Kafka (milliseconds; the worker cannot take them)
                at_stop = cluster.delivered_count(client)
                assert at_stop == len(first), f"{at_stop} delivered while the worker was paused"
                pg_ctl(data, "-m", "fast", "stop")
            finally:
                worker.send_signal(signal.SIGCONT)
            try:
                time.sleep(OUTAGE_SECONDS)
                assert worker.poll() is None, cluster.log("w")[-3000:]
            finally:
                pg_ctl(data, "-l", str(data.parent / "server.log"), "start")
            # "delivered" is what the status projection recorded: a status update dead-lettered during the
            # outage would leave its publication "delivering" for good.
            settle(cluster, client, ids, "Kafka PostgreSQL stop/start", time.monotonic(),
                   f"status store down {OUTAGE_SECONDS} s")
            # the outage was met by the pipeline's stages (not only by the scheduler's tick), and waited out
            waits = [line for line in cluster.log("w").splitlines()
                     if "infrastructure outage: waiting" in line and "scheduler tick" not in line]
            assert waits, cluster.log("w")[-3000:]
            assert delivered_total(cluster.url, client) == len(ids)
        finally:
            cluster.close()
