"""Kafka mode, as an operator runs it: `govcast api --broker` + `govcast worker`. A business registered through
the API after the worker started is in the worker's directory (the compacted topic govcast.subscribers) by
the time the next policy is matched, and receives it once on its webhook."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests

from govcast.samples import sample_policy
from tests.conftest import cli
from tests.e2e.test_kafka_scaling import Cluster
from tests.kafka_fixtures import KafkaBroker
from tests.push_support import SECRET, Receiver, credit_code

pytestmark = pytest.mark.kafka


def test_business_registered_after_the_worker_started_gets_the_next_policy(
        kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_CHANNELS", "portal,push")  # for the API and the worker alike
    monkeypatch.setenv("GOVCAST_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")  # the test receiver is on loopback
    receiver = Receiver().start()
    kafka_broker.skip_to_end()  # a fresh system: not what earlier tests left on the topics
    cluster = Cluster(kafka_broker, tmp_path)
    try:
        cluster.start_worker("w1")
        department = cluster.start_api()
        cluster.wait_ready("w1")
        oper = cli("token", "create", "--data-dir", str(cluster.data), "--kind", "operator", "--name", "值班员")
        assert oper.returncode == 0, oper.stderr
        tag = f"目录{uuid.uuid4().hex[:8]}"
        code = credit_code(uuid.uuid4().int % 10**8 * 10 + 7)
        created = requests.post(f"{cluster.url}/v1/subscribers", timeout=30,
                                headers={"Authorization": f"Bearer {oper.stdout.strip()}"},
                                json={"credit_code": code, "name": "新注册的企业", "region": "历下区", "topics": [tag],
                                      "webhook_url": f"{receiver.url}/hooks/new", "webhook_secret": SECRET,
                                      "channels": ["webhook"]})
        assert created.status_code == 201, created.text

        # Submitted right after the registration: the worker must match against a directory that has it.
        response = department.submit(sample_policy(title="关于新注册企业适用政策的通知", targeting={"topics": [tag]},
                                                   channels=["portal", "push"]))
        assert response.status_code == 202, response.text
        pub_id = response.json()["id"]
        deadline, push = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            push = department.get(pub_id)["deliveries"].get("push", {})
            if push.get("status") == "delivered":
                break
            time.sleep(0.2)
        assert push.get("status") == "delivered", (push, cluster.log("w1")[-3000:])
        assert (push.get("detail") or "").startswith("matched 1, "), push
        got = [d for ds in receiver.received.values() for d in ds if d["payload"]["data"]["publication_id"] == pub_id]
        assert [d["payload"]["data"]["credit_code"] for d in got] == [code]
        assert receiver.bad_signatures == 0
    finally:
        cluster.close()
        receiver.stop()
