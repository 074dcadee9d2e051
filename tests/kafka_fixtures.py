"""A real Kafka broker for tests: deploy/kafka/kafka-local in a private directory on free ports.

Use in a conftest (or test module):  `from tests.kafka_fixtures import kafka_broker, kafka_url  # noqa: F401`.

* `kafka_broker` (session): the running broker (`.bootstrap` "127.0.0.1:PORT", `.url` "kafka://…").
  Without `java` on PATH the tests that use it are skipped -- unless the environment variable CI is set,
  where a missing Kafka must fail the run, not hide it.
* `kafka_url` (function): the broker URL after moving consumer group "govcast" to the end of every
  govcast topic, so a fresh govcast system does not pick up the messages earlier tests left behind.

The broker is one per test process even if several conftests import these fixtures (each import makes
its own fixture definition, so the broker is a reference-counted module singleton).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "kafka" / "kafka-local"
START_TIMEOUT = 600  # the first start may download the broker's jars from Maven Central


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held together while choosing, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class KafkaBroker:
    bootstrap: str
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def topics(self, prefix: str = "govcast.") -> dict[str, int]:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="govcast-tests")
        try:
            return {t["name"]: len(t["partitions"]) for t in admin.describe_topics() if t["name"].startswith(prefix)}
        finally:
            admin.close()

    def skip_to_end(self, group: str = "govcast") -> None:
        """Commit `group`'s offsets at the end of every govcast topic (the group must have no live members)."""
        from kafka import TopicPartition
        from kafka.admin import KafkaAdminClient, OffsetSpec
        from kafka.errors import KafkaError

        specs = {TopicPartition(t, p): OffsetSpec.LATEST for t, n in self.topics().items() for p in range(n)}
        if not specs:
            return
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="govcast-tests")
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    admin.reset_group_offsets(group, specs)
                    return
                except KafkaError as exc:
                    # A fresh (or just restarted) broker answers CoordinatorNotAvailable until it has created
                    # (or loaded) its offsets topic: retriable, so wait for it.
                    if not exc.retriable or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            admin.close()


_lock = threading.Lock()
_broker: KafkaBroker | None = None
_users = 0


def _start(base: Path) -> KafkaBroker:
    port, controller = free_ports(2)
    from processors.topology import all_topics
    from settings import Settings

    env = {**os.environ, "KAFKA_LOCAL_DIR": str(base / "kafka"), "KAFKA_PORT": str(port),
           "KAFKA_CONTROLLER_PORT": str(controller), "GOVCAST_TOPICS": " ".join(all_topics(Settings()))}
    done = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
    if done.returncode != 0:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120, check=False)
        pytest.fail(f"kafka-local start failed ({done.returncode}):\n{done.stderr[-4000:]}")
    # The broker outlives its starter (setsid). If this test process dies without tearing down (killed by a
    # timeout, SIGKILL), a watchdog stops the broker, so no orphan JVM holds ports and memory on the machine.
    subprocess.Popen([sys.executable, "-c", BROKER_WATCHDOG, str(os.getpid()), str(SCRIPT)], env=env, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return KafkaBroker(done.stdout.strip().splitlines()[-1], env)


BROKER_WATCHDOG = """
import os, subprocess, sys, time
pid, script = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(2)
subprocess.run([script, "stop"], capture_output=True, timeout=120)
"""


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    global _broker, _users
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        message = "java is not on PATH: the Kafka tests need deploy/kafka/kafka-local (OpenJDK 17+)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    with _lock:
        if _broker is None:
            _broker = _start(tmp_path_factory.mktemp("kafka-broker"))
        _users += 1
        broker = _broker
    try:
        yield broker
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                subprocess.run([str(SCRIPT), "stop"], env=broker.env, capture_output=True, text=True, timeout=120,
                               check=False)
                _broker = None


@pytest.fixture
def kafka_url(kafka_broker: KafkaBroker) -> str:
    kafka_broker.skip_to_end()
    return kafka_broker.url
