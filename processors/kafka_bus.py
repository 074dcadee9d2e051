"""The bus on Apache Kafka for producers (the submit API): kafka-python, acks=all, idempotent.

`send` returns only once every message is acknowledged by the in-sync replicas,
so a 202 means the publication is in Kafka. When the broker cannot take it
within the delivery timeout, BusUnavailable tells the API to answer 503 and
keep nothing.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlparse

from kafka import KafkaProducer
from kafka.errors import KafkaError

from processors.bus import BusUnavailable, Outbound
from schemas.events import CONTENT_TYPE

log = logging.getLogger("govcast.kafka")

HEADERS = [("content-type", CONTENT_TYPE.encode())]
# The producer waits this long for more records before a request -- but every send here ends with `flush`, which
# sends at once what was appended: the messages of one call leave in one produce request (all partitions), not in
# a request per record the network thread happened to find ready while the caller was still appending (linger 0).
LINGER_MS = 5


def bootstrap_servers(broker_url: str) -> list[str]:
    """`kafka://h1:9092,h2:9092` (or a bare `h:9092`) -> ["h1:9092", "h2:9092"]."""
    parsed = urlparse(broker_url if "://" in broker_url else f"kafka://{broker_url}")
    if parsed.scheme != "kafka" or not parsed.netloc:
        raise ValueError(f"broker must look like kafka://HOST:PORT, got {broker_url!r}")
    return [server if ":" in server else f"{server}:9092" for server in parsed.netloc.split(",")]


class KafkaBus:
    def __init__(self, broker_url: str, *, delivery_timeout_ms: int = 10_000) -> None:
        self.servers = bootstrap_servers(broker_url)
        self.delivery_timeout_ms = delivery_timeout_ms
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _connect(self) -> KafkaProducer:
        # Created on first use, not at start-up: the API can boot (and answer 503) while the broker is down.
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.servers,
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=LINGER_MS,
                        request_timeout_ms=min(5_000, self.delivery_timeout_ms),
                        delivery_timeout_ms=self.delivery_timeout_ms,
                        max_block_ms=self.delivery_timeout_ms,
                        key_serializer=str.encode,
                    )
                except KafkaError as exc:
                    raise BusUnavailable(f"Kafka at {','.join(self.servers)} is unreachable: {exc}") from exc
            return self._producer

    def send(self, messages: list[Outbound]) -> None:
        self.send_encoded([(m.topic, m.key, m.event.to_json()) for m in messages])

    def send_encoded(self, messages: list[tuple[str, str, bytes]]) -> None:
        """`send` for events already serialized (topic, key, CloudEvent JSON): the outbox relay's rows as stored."""
        if not messages:
            return
        producer = self._connect()
        try:
            futures = [producer.send(topic, key=key, value=value, headers=HEADERS) for topic, key, value in messages]
            producer.flush(timeout=self.delivery_timeout_ms / 1000 + 1)
            for future in futures:
                future.get(timeout=self.delivery_timeout_ms / 1000 + 1)
        except KafkaError as exc:
            log.warning("Kafka did not acknowledge %d message(s): %s", len(messages), exc)
            raise BusUnavailable(f"Kafka did not acknowledge the message: {type(exc).__name__}") from exc

    def send_records(self, topic: str, records: list[tuple[str, bytes | None]]) -> None:
        """Plain keyed records (None: a tombstone), acknowledged like `send` (the compacted directory topic)."""
        if not records:
            return
        producer = self._connect()
        try:
            futures = [producer.send(topic, key=key, value=value) for key, value in records]
            producer.flush(timeout=self.delivery_timeout_ms / 1000 + 1)
            for future in futures:
                future.get(timeout=self.delivery_timeout_ms / 1000 + 1)
        except KafkaError as exc:
            log.warning("Kafka did not acknowledge %d record(s) for %s: %s", len(records), topic, exc)
            raise BusUnavailable(f"Kafka did not acknowledge the record: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
