"""The faust host on a real Kafka broker (deploy/kafka/kafka-local).

In-process tests pin the delivery guarantee with probe routes on private topics and consumer groups;
process tests run `govcast run --broker` and `govcast api` + `govcast worker` as users start them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from govcast.cli import EXIT_INTERRUPTED
from govcast.runtime import Runtime
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.bus import Outbound
from processors.faust_host import FaustHost
from processors.faust_support import MALFORMED, ensure_topics
from processors.stages import StageContext
from processors.topology import Route
from schemas.events import CloudEvent, Topics, derived_id, new_event
from settings import Settings
from tests.conftest import ROOT, Client, GovcastProcess, free_port
from tests.kafka_fixtures import KafkaBroker

pytestmark = pytest.mark.kafka

DELIVERY_TIMEOUT = 60.0


# ---------------------------------------------------------------- helpers


def committed(bootstrap: str, group: str, topic: str, partition: int = 0) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="govcast-tests")
    try:
        for attempt in range(60):  # a fresh broker creates its offsets topic on the first group request
            try:
                offsets = admin.list_group_offsets(group).get(group, {})
                break
            except KafkaError as exc:
                if not exc.retriable or attempt == 59:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()
    found = offsets.get(TopicPartition(topic, partition))
    return None if found is None or found.offset < 0 else int(found.offset)


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` from the beginning, without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=key, value=value, headers=[("content-type", b"application/cloudevents+json")]).get(30)
    finally:
        producer.close()


def assert_group_caught_up(bootstrap: str, group: str = "govcast") -> None:
    """After a clean stop the group's progress is committed: nothing is left for the next worker."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in (Topics.publications, Topics.deliveries("portal"), Topics.status)
               for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    for tp in tps:
        assert (committed(bootstrap, group, tp.topic, tp.partition) or 0) == ends[tp], (tp, ends[tp])


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).ok
    except requests.RequestException:
        return False


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def eventually_async(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclasses.dataclass(frozen=True)
class ProbeRoute(Route):
    """A route whose outputs go to a topic of the test's choosing: the input event, re-sent unchanged."""

    out_topic: str = ""

    async def handle(self, event: CloudEvent, ctx: StageContext, item: Any = None) -> list[Outbound]:
        await self.stage(event, ctx)
        return [Outbound(self.out_topic, event.subject or event.id, event)]


def probe(name: str, stage: Callable[[Any, StageContext], Any]) -> ProbeRoute:
    return ProbeRoute(name=name, sources=(f"test.{name}.in",), decode=lambda e: e, stage=stage,
                      out_topic=f"test.{name}.out")


def probe_event(subject: str) -> CloudEvent:
    return new_event("gov.govcast.test.probe", "/govcast/tests", subject, {"n": 1})


@pytest.fixture
def runtime(tmp_path: Path, kafka_broker: KafkaBroker) -> Iterator[Runtime]:
    rt = Runtime.build(Settings(data_dir=tmp_path / "data", broker=kafka_broker.url, partitions=1))
    yield rt
    rt.close()


async def run_host(host: FaustHost, scenario: Callable[[], Any]) -> None:
    task = asyncio.create_task(host.run())
    try:
        await scenario()
    finally:
        host.stop()
        await asyncio.wait_for(task, 60)


# ---------------------------------------------------------------- in process: the guarantee


def test_offset_advances_only_after_outputs_are_acknowledged(runtime: Runtime, kafka_broker: KafkaBroker) -> None:
    """The stage is done at once, but its output topic does not exist yet (auto-create is off): the broker
    cannot acknowledge the output, so the input's offset must stay uncommitted until it can."""
    name, group = f"ack{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        handled.append(event.id)
        return []

    route = probe(name, stage)
    host = FaustHost(runtime, group_id=group, table=[route])
    event = probe_event("pub_ack")
    bootstrap = kafka_broker.bootstrap
    ensure_topics([bootstrap], [route.sources[0]], 1)  # the input topic only

    async def scenario() -> None:
        await asyncio.to_thread(produce, bootstrap, route.sources[0], b"pub_ack", event.to_json())
        await eventually_async(lambda: handled, 60, "the stage to handle the input")
        await asyncio.sleep(5)  # five commit intervals
        assert await asyncio.to_thread(committed, bootstrap, group, route.sources[0]) is None
        await asyncio.to_thread(ensure_topics, [bootstrap], [route.out_topic], 1)
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 1, 60, "the commit")
        outputs = await asyncio.to_thread(read_topic, bootstrap, route.out_topic)
        assert [CloudEvent.from_json(r.value).id for r in outputs] == [event.id]
        assert dict(outputs[0].headers)["content-type"].startswith(b"application/cloudevents+json")

    asyncio.run(run_host(host, scenario))
    assert handled[0] == event.id


def test_input_in_progress_at_stop_is_read_again(runtime: Runtime, kafka_broker: KafkaBroker) -> None:
    name, group = f"stop{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap
    calls: list[str] = []
    block = True

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        calls.append(event.id)
        while block:
            await asyncio.sleep(0.05)
        return []

    route = probe(name, stage)
    ensure_topics([bootstrap], [route.sources[0], route.out_topic], 1)
    event = probe_event("pub_stop")
    produce(bootstrap, route.sources[0], b"pub_stop", event.to_json())

    async def first() -> None:
        await eventually_async(lambda: calls, 60, "the stage to start")

    started = time.monotonic()
    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route], shutdown_grace=0.5), first))
    assert time.monotonic() - started < 45
    assert committed(bootstrap, group, route.sources[0]) is None
    assert read_topic(bootstrap, route.out_topic) == []

    block = False

    async def second() -> None:
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 1, 60, "the commit")

    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route]), second))
    assert calls == [event.id, event.id]  # at least once: handled again by the next worker
    assert [CloudEvent.from_json(r.value).id for r in read_topic(bootstrap, route.out_topic)] == [event.id]


def test_unreadable_message_is_parked_on_the_dead_letter_topic(runtime: Runtime, kafka_broker: KafkaBroker) -> None:
    name, group = f"bad{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap
    good = probe_event("pub_good")
    seen: list[str] = []

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        seen.append(event.id)
        return []

    route = probe(name, stage)
    ensure_topics([bootstrap], [route.sources[0], route.out_topic], 1)
    produce(bootstrap, route.sources[0], b"pub_bad", b"{not json")
    produce(bootstrap, route.sources[0], b"pub_good", good.to_json())

    async def scenario() -> None:
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 2, 60, "both offsets committed")

    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route]), scenario))
    assert seen == [good.id]  # the partition went on after the bad message
    parked = [json.loads(r.value) for r in read_topic(bootstrap, Topics.deadletter)]
    mine = [e for e in parked if e["type"] == MALFORMED and e["data"]["topic"] == route.sources[0]]
    assert len(mine) == 1
    assert mine[0]["data"]["key"] == "pub_bad" and mine[0]["data"]["value"] == "{not json"
    assert mine[0]["specversion"] == "1.0" and mine[0]["source"] and mine[0]["time"]


def test_failing_stage_is_dead_lettered_after_five_attempts(runtime: Runtime, kafka_broker: KafkaBroker) -> None:
    name, group = f"poison{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap
    poison, fine = probe_event("pub_poison"), probe_event("pub_fine")
    calls: list[str] = []

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        calls.append(event.id)
        if event.id == poison.id:
            raise RuntimeError("stage bug")
        return []

    route = probe(name, stage)
    ensure_topics([bootstrap], [route.sources[0], route.out_topic], 1)
    produce(bootstrap, route.sources[0], b"pub_poison", poison.to_json())
    produce(bootstrap, route.sources[0], b"pub_fine", fine.to_json())

    async def scenario() -> None:
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 2, 60, "both offsets committed")

    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route], backoff_cap=0.05), scenario))
    assert calls == [poison.id] * 5 + [fine.id]
    parked = [r for r in read_topic(bootstrap, Topics.deadletter) if r.key == b"pub_poison"]
    assert [CloudEvent.from_json(r.value).id for r in parked] == [poison.id]  # the input itself, for requeueing
    assert [CloudEvent.from_json(r.value).id for r in read_topic(bootstrap, route.out_topic)] == [fine.id]


def status_route(name: str, store_fails: list[int] | None = None) -> Route:
    """A route that projects its own statuses (like a deliver lane): each input makes two status events."""
    import datetime as dt

    from schemas.delivery import DeliveryStatus, StatusEvent

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        at = dt.datetime.now(dt.UTC)
        return [StatusEvent(publication_id=event.subject or "", version=1, channel="portal", status=status, at=at)
                for status in (DeliveryStatus.delivering, DeliveryStatus.delivered)]

    return Route(name=name, sources=(f"test.{name}.in",), decode=lambda e: e, stage=stage, projects=True)


@pytest.mark.parametrize("store", ["up", "refuses"])
def test_a_projecting_lane_applies_its_statuses_itself(runtime: Runtime, kafka_broker: KafkaBroker,
                                                       monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    """Route.projects: the lane's status events reach the store before the input is acked, not through the
    status topic. When the store refuses them (not an outage), they go to the status topic instead (its
    projection agent parks what keeps failing), with the same event ids, and the input is still acked."""
    name, group = f"proj{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap
    route = status_route(name)
    subjects = [f"pub_{name}_{n}" for n in range(3)]
    if store == "refuses":
        def refuse(updates: Any) -> list[bool]:
            raise ValueError("a row the store cannot take")
        monkeypatch.setattr(runtime.store, "apply_status_many", refuse)
    ensure_topics([bootstrap], [route.sources[0]], 1)
    events = [probe_event(subject) for subject in subjects]
    for subject, event in zip(subjects, events, strict=True):
        produce(bootstrap, route.sources[0], subject.encode(), event.to_json())

    async def scenario() -> None:
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 3, 60, "all offsets committed")

    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route], backoff_cap=0.05), scenario))
    sent = [CloudEvent.from_json(r.value) for r in read_topic(bootstrap, Topics.status) if r.key.decode() in subjects]
    if store == "up":
        assert sent == []
        for subject in subjects:
            assert sorted((t["channel"], t["status"]) for t in runtime.store.timeline_of(subject)) == [
                ("portal", "delivered"), ("portal", "delivering")]
    else:
        # One message per input, carrying both events under the ids they would have had in the store.
        by_subject = {e.subject: e for e in sent}
        assert sorted(by_subject) == subjects and len(sent) == 3
        for subject, event in zip(subjects, events, strict=True):
            message = by_subject[subject]
            assert message.id == derived_id(event.id, 0)
            assert [item["event_id"] for item in message.data["events"]] == [derived_id(event.id, i) for i in (0, 1)]


def test_retry_waits_for_its_time_and_a_stop_does_not_wait_for_it(runtime: Runtime, kafka_broker: KafkaBroker) -> None:
    import datetime as dt

    name, group = f"wait{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap
    handled: dict[str, float] = {}

    async def stage(event: CloudEvent, ctx: StageContext) -> list[Any]:
        handled[event.id] = time.time()
        return []

    def due(event: CloudEvent) -> dt.datetime:
        return dt.datetime.fromisoformat(event.data["due"])

    route = dataclasses.replace(probe(name, stage), wait_until=due)
    ensure_topics([bootstrap], [route.sources[0], route.out_topic], 1)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)
    event = new_event("gov.govcast.test.probe", "/govcast/tests", "pub_wait", {"due": soon.isoformat()})
    produce(bootstrap, route.sources[0], b"pub_wait", event.to_json())

    async def stopped_while_waiting() -> None:
        await asyncio.sleep(6)  # joined the group and holding the event, which is not due yet

    started = time.monotonic()
    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route]), stopped_while_waiting))
    assert time.monotonic() - started < 6 + 5, "stop waited for the retry's time"
    assert handled == {} and committed(bootstrap, group, route.sources[0]) is None

    async def until_done() -> None:
        await eventually_async(lambda: committed(bootstrap, group, route.sources[0]) == 1, 60, "the commit")

    asyncio.run(run_host(FaustHost(runtime, group_id=group, table=[route]), until_done))
    assert handled[event.id] >= soon.timestamp()


# ---------------------------------------------------------------- processes: govcast run --broker


def cloudevent_from_record(record: Any) -> Any:
    """Parse with the CloudEvents SDK's Kafka structured-mode binding (SDK 2.x; 1.x as fallback)."""
    headers = {k: v for k, v in record.headers}
    try:
        from cloudevents.core.bindings import kafka as binding

        return binding.from_structured_event(binding.KafkaMessage(headers=headers, key=record.key, value=record.value))
    except ImportError:  # cloudevents 1.x
        from cloudevents.kafka import KafkaMessage, from_structured

        return from_structured(KafkaMessage(headers=headers, key=record.key, value=record.value))


def attribute(event: Any, name: str) -> Any:
    getter = getattr(event, f"get_{name}", None)
    return getter() if getter else event[name]


class TestAllInOne:
    """`govcast run --broker`: API, worker and portal in one process and one event loop."""

    @pytest.fixture(scope="class")
    def system(self, kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
        kafka_broker.skip_to_end()
        process = GovcastProcess(tmp_path_factory.mktemp("faust-run") / "data", extra_args=["--broker", kafka_broker.url])
        try:
            process.start()
        except BaseException:
            process.stop()  # a half-started process would stay in the consumer group and steal partitions
            raise
        yield process
        process.stop()
        # Ctrl-C: "stopped" and exit status 130, as in embedded mode (tests/govcast/test_ctrl_c.py); -9 would mean it hung.
        assert process.proc is not None and process.proc.returncode == EXIT_INTERRUPTED, process.output()[-3000:]
        assert "stopping the faust app failed" not in process.output()
        assert_group_caught_up(kafka_broker.bootstrap)

    @pytest.fixture(scope="class")
    def department(self, system: GovcastProcess) -> Client:
        return Client(system.url, system.token("department", "X", DEMO_DEPARTMENT["publisher_code"]))

    @pytest.fixture(scope="class")
    def delivered(self, system: GovcastProcess, department: Client) -> dict[str, Any]:
        started = time.monotonic()
        response = department.submit(sample_policy())
        assert response.status_code == 202, response.text
        done = department.wait_for(response.json()["id"], "delivered", timeout=DELIVERY_TIMEOUT)
        print(f"submit -> delivered through Kafka: {time.monotonic() - started:.2f} s")
        return done

    def test_publication_is_delivered_through_kafka(self, system: GovcastProcess, delivered: dict[str, Any]) -> None:
        portal = delivered["deliveries"]["portal"]
        assert portal["status"] == "delivered"
        assert portal["url"].startswith(f"{system.url}/portal/")
        page = requests.get(portal["url"], timeout=10)
        assert page.status_code == 200
        assert sample_policy()["title"] in page.text
        steps = [(e["channel"], e["status"]) for e in delivered["timeline"]]
        assert ("portal", "delivering") in steps and ("portal", "delivered") in steps

    def test_topics_carry_structured_cloudevents(self, kafka_broker: KafkaBroker, delivered: dict[str, Any]) -> None:
        pub_id = delivered["id"]
        # The delivery's statuses no longer cross Kafka here: the portal lane projects them itself (Route.projects).
        for topic, types in [(Topics.publications, {"gov.govcast.publication.submitted"}),
                             (Topics.deliveries("portal"), {"gov.govcast.delivery.requested"})]:
            records = [r for r in read_topic(kafka_broker.bootstrap, topic) if r.key == pub_id.encode()]
            assert records, f"no message about {pub_id} on {topic}"
            for record in records:
                assert dict(record.headers)["content-type"].decode().startswith("application/cloudevents+json")
                raw = json.loads(record.value)
                for name in ("id", "source", "specversion", "type", "time"):
                    assert raw.get(name), f"{topic}: {name} missing in {raw}"
                assert raw["specversion"] == "1.0" and raw["subject"] == pub_id
                assert raw["source"].startswith("/govcast/")
                event = cloudevent_from_record(record)
                assert attribute(event, "specversion") == "1.0"
                assert attribute(event, "id") == raw["id"] and attribute(event, "type") == raw["type"]
                assert attribute(event, "source") == raw["source"]
                assert raw["type"] in types
            assert len({json.loads(r.value)["id"] for r in records}) == len(records)  # ids are unique

    def test_scheduled_publication_is_released_by_the_timer(self, department: Client) -> None:
        import datetime as dt

        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
        response = department.submit(sample_policy(title="关于定时发布的测试通知", publish_at=at.isoformat()))
        assert response.status_code == 202, response.text
        pub_id = response.json()["id"]
        assert department.wait_for(pub_id, "scheduled", "delivered", timeout=30)["status"] == "scheduled"
        done = department.wait_for(pub_id, "delivered", timeout=DELIVERY_TIMEOUT)
        delivered_at = max(e["at"] for e in done["timeline"] if e["status"] == "delivered")
        assert dt.datetime.fromisoformat(delivered_at) >= at


# ---------------------------------------------------------------- processes: govcast api + govcast worker


def spawn(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "govcast.cli", *args], stdout=log_path.open("w"),
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return int(proc.returncode)


def test_api_and_a_standalone_worker_deliver(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.skip_to_end()
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    common = ["--data-dir", str(data), "--broker", kafka_broker.url]
    api = spawn(["api", *common, "--port", str(port)], tmp_path / "api.log")
    # The worker renders portal links, so it must know the public URL the API serves them under.
    worker = spawn(["worker", *common], tmp_path / "worker.log", env={"GOVCAST_PUBLIC_URL": base})
    try:
        eventually(lambda: api.poll() is None and ready(base), 60, "the API")
        token = subprocess.run([sys.executable, "-m", "govcast.cli", "token", "create", "--data-dir", str(data),
                                "--kind", "department", "--name", "X", "--publisher-code", DEMO_DEPARTMENT["publisher_code"]],
                               capture_output=True, text=True, cwd=ROOT, check=True, timeout=60).stdout.strip()
        client = Client(base, token)
        started = time.monotonic()
        response = client.submit(sample_policy(title="关于分布式部署测试的通知"))
        assert response.status_code == 202, response.text
        done = client.wait_for(response.json()["id"], "delivered", timeout=DELIVERY_TIMEOUT)
        print(f"api + worker: submit -> delivered {time.monotonic() - started:.2f} s")
        url = done["deliveries"]["portal"]["url"]
        assert url.startswith(f"{base}/portal/")
        assert requests.get(url, timeout=10).status_code == 200
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        stopping = time.monotonic()
        assert stop(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        print(f"worker stopped on SIGTERM in {time.monotonic() - stopping:.2f} s")
    finally:
        stop(worker, signal.SIGKILL)
        stop(api, signal.SIGINT)
    assert_group_caught_up(kafka_broker.bootstrap)
