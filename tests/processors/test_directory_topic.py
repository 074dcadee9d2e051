"""Kafka mode's push directory: every change goes to the compacted topic `govcast.subscribers` inside its
database transaction, and workers materialize the topic (processors.directory_topic, govcast.directory_sync).

The first tests need no broker (the hook's contract; the API with the broker down). The `kafka` ones run on
the session's real broker; the topic is shared with other tests there, so each test uses its own businesses
(and a targeting topic of its own) and looks only at them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from adapters.push.unsubscribe import make_token
from govcast.directory_sync import DirectorySeeder
from govcast.runtime import Runtime
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from processors.directory_topic import TOPIC, DirectoryFeed, TopicDirectory, ensure_directory_topic, reseed
from processors.kafka_bus import KafkaBus
from producers.api import create_app
from producers.auth import new_token
from schemas.publication import Targeting
from schemas.subscriber import SubscriberIn
from settings import Settings
from tests.conftest import free_port
from tests.kafka_fixtures import KafkaBroker
from tests.push_support import SECRET, credit_code

Change = tuple[str, bytes | None]


def business(n: int, tag: str, **extra: Any) -> dict[str, Any]:
    return {"credit_code": credit_code(n), "name": f"目录测试企业{n}", "region": "历下区", "industry": "C3911",
            "scale": "小型", "topics": [tag], "email": f"d{n}@example.test", "webhook_url": "https://h.example.test/x",
            "webhook_secret": SECRET, "channels": ["webhook", "email"], **extra}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def numbers() -> list[int]:
    """Credit code numbers no other test uses (the topic outlives each test)."""
    base = uuid.uuid4().int % 10**8 * 10
    return [base + i for i in range(5)]


# ---------------------------------------------------------------- without a broker


def test_every_change_goes_through_the_hook_and_a_refusal_rolls_it_back(tmp_path: Path) -> None:
    seen: list[list[Change]] = []
    refuse = False

    def hook(changes: list[Change]) -> None:
        if refuse:
            raise RuntimeError("broker says no")
        seen.append(changes)

    store = SubscriberStore(StatusStore(f"sqlite:///{tmp_path / 's.db'}").engine, on_change=hook)
    store.upsert_many([SubscriberIn.model_validate(business(n, "t")) for n in (1, 2)])
    assert [code for code, _ in seen[-1]] == [credit_code(1), credit_code(2)]
    assert json.loads(seen[-1][0][1] or b"")["webhook_secret"] == SECRET  # the stored JSON, secret included
    store.unsubscribe(credit_code(1), "email")
    assert json.loads(seen[-1][0][1] or b"")["unsubscribed"] == ["email"]
    store.disable_webhook(credit_code(1))
    assert json.loads(seen[-1][0][1] or b"")["webhook_disabled"] is True
    store.delete(credit_code(2))
    assert seen[-1] == [(credit_code(2), None)]  # a tombstone

    refuse = True
    with pytest.raises(RuntimeError):
        store.upsert(SubscriberIn.model_validate(business(3, "t")))
    with pytest.raises(RuntimeError):
        store.delete(credit_code(1))
    with pytest.raises(RuntimeError):
        store.unsubscribe(credit_code(1), "all")
    assert store.get(credit_code(3)) is None
    assert store.get(credit_code(1)).unsubscribed == ["email"]  # type: ignore[union-attr]


def test_api_answers_503_and_keeps_nothing_when_the_broker_is_down(tmp_path: Path) -> None:
    url = f"kafka://127.0.0.1:{free_port()}"  # nobody listens there
    store = StatusStore(f"sqlite:///{tmp_path / 's.db'}")
    app = create_app(Settings(data_dir=tmp_path, broker=url, channels=["portal"]), store,
                     KafkaBus(url, delivery_timeout_ms=1_500))
    oper = bearer(new_token(store, "operator", "值班员"))
    SubscriberStore(store.engine).upsert(SubscriberIn.model_validate(business(8, "t")))  # there before the outage
    with TestClient(app) as client:
        created = client.post("/v1/subscribers", json=business(9, "t"), headers=oper)
        assert created.status_code == 503, created.text
        assert created.headers["content-type"].startswith("application/problem+json")
        assert client.get(f"/v1/subscribers/{credit_code(9)}", headers=oper).status_code == 404
        assert client.delete(f"/v1/subscribers/{credit_code(8)}", headers=oper).status_code == 503
        assert client.get(f"/v1/subscribers/{credit_code(8)}", headers=oper).status_code == 200


def test_api_start_does_not_wait_for_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    store = SubscriberStore(StatusStore(f"sqlite:///{tmp_path / 's.db'}").engine)
    started = time.monotonic()
    seeder = DirectorySeeder(store, [f"127.0.0.1:{free_port()}"]).start(wait=60)
    try:
        assert time.monotonic() - started < 20  # one attempt (5 s connect timeout), then serve; retried meanwhile
        assert not seeder.done.is_set()
    finally:
        seeder.stop()


# ---------------------------------------------------------------- on the real broker


@pytest.fixture
def api(tmp_path: Path, kafka_broker: KafkaBroker) -> Iterator[tuple[TestClient, StatusStore]]:
    store = StatusStore(f"sqlite:///{tmp_path / 's.db'}")
    bus = KafkaBus(kafka_broker.url)
    app = create_app(Settings(data_dir=tmp_path, broker=kafka_broker.url, channels=["portal"]), store, bus)
    with TestClient(app) as client:
        yield client, store
    bus.close()


def topic_config(bootstrap: str, key: str) -> str:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="govcast-tests")
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC, configs={key: None})],
                                       config_filter="all")
    finally:
        admin.close()
    return str(found["topic"][TOPIC][key]["value"])


@pytest.mark.kafka
def test_api_changes_reach_every_worker_directory(api: tuple[TestClient, StatusStore], kafka_broker: KafkaBroker) -> None:
    client, store = api
    oper = bearer(new_token(store, "operator", "值班员"))
    tag = f"目录{uuid.uuid4().hex[:8]}"
    mine = Targeting(topics=[tag])
    a, b, c = (credit_code(n) for n in numbers()[:3])
    for code in (a, b, c):
        assert client.post("/v1/subscribers", json=business(0, tag) | {"credit_code": code}, headers=oper).status_code == 201
    assert topic_config(kafka_broker.bootstrap, "cleanup.policy") == "compact"

    worker = TopicDirectory([kafka_broker.bootstrap]).start()
    try:
        assert sorted(worker.match(mine)) == sorted([a, b, c])
        assert worker.get(a).webhook_secret.get_secret_value() == SECRET  # type: ignore[union-attr]

        # An update changes the match at once: match() catches up with the topic's end first.
        moved = business(0, "别的主题") | {"credit_code": b}
        assert client.put(f"/v1/subscribers/{b}", json={k: v for k, v in moved.items() if k != "credit_code"},
                          headers=oper).status_code == 200
        assert sorted(worker.match(mine)) == sorted([a, c])
        # Unsubscribing from everything (one-click link) takes the business out of targeting, not out of the directory.
        token = make_token(SubscriberStore(store.engine).secret("unsubscribe"), c, "all")
        assert client.post(f"/u/{token}").status_code == 200
        assert worker.match(mine) == [a]
        assert worker.get(c).unsubscribed == ["all"]  # type: ignore[union-attr]
        # A delete is a tombstone.
        assert client.delete(f"/v1/subscribers/{a}", headers=oper).status_code == 204
        assert worker.match(mine) == []
        assert worker.get(a) is None

        # A new worker rebuilds the same state from the topic.
        fresh = TopicDirectory([kafka_broker.bootstrap]).start()
        try:
            assert fresh.match(Targeting(credit_codes=[a, b, c])) == worker.match(Targeting(credit_codes=[a, b, c]))
            assert fresh.get(a) is None
            assert fresh.get_many([b, c]) == worker.get_many([b, c])
            assert fresh.get(b).topics == ["别的主题"]  # type: ignore[union-attr]
        finally:
            fresh.close()
    finally:
        worker.close()


@pytest.mark.kafka
def test_a_worker_runtime_reads_the_topic_and_writes_disabled_webhooks(tmp_path: Path, kafka_broker: KafkaBroker) -> None:
    runtime = Runtime.build(Settings(data_dir=tmp_path / "data", broker=kafka_broker.url, channels=["push"]))
    try:
        push: Any = runtime.adapters["push"]
        assert isinstance(push.directory, TopicDirectory)
        code = credit_code(numbers()[0])
        push.store.upsert(SubscriberIn.model_validate(business(0, "t") | {"credit_code": code}))
        push.store.disable_webhook(code)  # what the adapter does after a 410
        # The topic is read asynchronously: the first record may be read before the change that follows it.
        deadline = time.monotonic() + 20
        while not push.directory.get(code).webhook_disabled and time.monotonic() < deadline:
            push.directory.sync(timeout=1)
        assert push.directory.get(code).webhook_disabled is True
    finally:
        runtime.close()
    assert not push.directory._thread.is_alive()  # closed with the runtime


@pytest.mark.kafka
def test_reseed_puts_the_database_on_the_topic(tmp_path: Path, kafka_broker: KafkaBroker) -> None:
    servers = [kafka_broker.bootstrap]
    ensure_directory_topic(servers)
    engine = StatusStore(f"sqlite:///{tmp_path / 's.db'}").engine
    a, b, stale = (credit_code(n) for n in numbers()[:3])
    # Imported without the broker (embedded mode, or before the topic existed): in the database only.
    SubscriberStore(engine).upsert_many([SubscriberIn.model_validate(business(0, "t") | {"credit_code": c})
                                         for c in (a, b)])
    bus = KafkaBus(kafka_broker.url)
    try:
        feed = DirectoryFeed(bus)
        feed([(stale, json.dumps({"credit_code": stale}).encode())])  # on the topic, not in this database
        store = SubscriberStore(engine, on_change=feed)
        produced, removed = reseed(store, servers)
        assert produced == 2 and removed >= 1
        started = time.monotonic()
        seeder = DirectorySeeder(store, servers).start(wait=60)  # as `govcast api --broker` does at start
        assert seeder.done.is_set() and time.monotonic() - started < 20
        assert reseed(store, servers) == (0, 0)  # in step now
    finally:
        bus.close()
    worker = TopicDirectory(servers).start()
    try:
        assert sorted(worker.get_many([a, b, stale])) == sorted([a, b])
    finally:
        worker.close()


@pytest.mark.kafka
def test_cli_import_with_broker_and_publish(tmp_path: Path, kafka_broker: KafkaBroker) -> None:
    from tests.conftest import cli
    from tests.push_support import write_csv

    a, b = (credit_code(n) for n in numbers()[:2])
    row = {"name": "导入企业", "region": "历下区", "industry": "C3911", "scale": "小型", "qualifications": "",
           "topics": "", "mobile": "", "email": "x@example.test", "webhook_url": "", "webhook_secret": "",
           "wechat_openid": "", "channels": "email", "quiet_hours": "", "daily_cap": "5"}
    data = str(tmp_path / "data")
    done = cli("subscribers", "import", str(write_csv(tmp_path / "a.csv", [row | {"credit_code": a}])),
               "--data-dir", data, "--broker", kafka_broker.url)
    assert done.returncode == 0, done.stderr
    done = cli("subscribers", "import", str(write_csv(tmp_path / "b.csv", [row | {"credit_code": b}])),
               "--data-dir", data)  # without the broker: the database only
    assert done.returncode == 0, done.stderr
    worker = TopicDirectory([kafka_broker.bootstrap]).start()
    try:
        assert sorted(worker.get_many([a, b])) == [a]
        done = cli("subscribers", "publish", "--data-dir", data, "--broker", kafka_broker.url)
        assert done.returncode == 0, done.stderr
        assert "1 records produced" in done.stderr
        assert sorted(worker.get_many([a, b])) == sorted([a, b])
    finally:
        worker.close()
    assert cli("subscribers", "publish", "--data-dir", data).returncode == 2  # embedded mode: no topic
