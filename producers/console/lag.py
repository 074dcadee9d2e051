"""Consumer lag of each channel's delivery topic (messages not yet taken by its consumers), on either host.

Embedded: the SQLite log's committed offsets. Kafka: the consumer group's committed offsets against the
partitions' end offsets (kafka-python admin and consumer, bounded timeouts; None when the broker does not answer).
"""

from __future__ import annotations

import logging
from typing import Any

from processors.target import lane
from schemas.events import Topics
from settings import Settings

log = logging.getLogger("govcast.console")


def _topics(settings: Settings) -> dict[str, tuple[str, str]]:
    """channel -> (delivery topic of its deliveries, consumer group name in the embedded host)."""
    out = {}
    for channel in settings.channels:
        name = lane(channel, True)
        out[channel] = (Topics.deliveries(name), "deliver-" + name.replace(".", "-"))
    return out


def consumer_lag(settings: Settings, bus: Any) -> dict[str, int | None]:
    topics = _topics(settings)
    log_bus = getattr(bus, "log", bus)  # tests wrap the embedded log
    if hasattr(log_bus, "lag"):
        return {channel: int(log_bus.lag(group, topic)) for channel, (topic, group) in topics.items()}
    if not settings.broker:
        return dict.fromkeys(topics)
    try:
        return _kafka_lag(settings.broker, topics)
    except Exception as exc:  # the page shows "—" and says why in the log
        log.warning("consumer lag: Kafka did not answer (%s: %s)", type(exc).__name__, exc)
        return dict.fromkeys(topics)


def _kafka_lag(broker: str, topics: dict[str, tuple[str, str]]) -> dict[str, int | None]:
    from kafka import KafkaAdminClient, KafkaConsumer

    from processors.faust_host import GROUP_ID
    from processors.kafka_bus import bootstrap_servers

    servers = bootstrap_servers(broker)
    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000, client_id="govcast-console")
    consumer = KafkaConsumer(bootstrap_servers=servers, request_timeout_ms=5000, client_id="govcast-console")
    try:
        committed = admin.list_consumer_group_offsets(GROUP_ID)
        parts = [tp for tp in committed if any(tp.topic == t for t, _ in topics.values())]
        ends = consumer.end_offsets(parts) if parts else {}
        lag: dict[str, int | None] = {}
        for channel, (topic, _) in topics.items():
            mine = [tp for tp in parts if tp.topic == topic]
            lag[channel] = sum(max(0, ends[tp] - committed[tp].offset) for tp in mine) if mine else None
        return lag
    finally:
        consumer.close()
        admin.close()
