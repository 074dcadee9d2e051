"""Which change hook a process's SubscriberStore gets: in Kafka mode a DirectoryFeed that writes every directory
change to the directory topic (processors.directory_topic), in embedded mode none. Here, apart from the topic
code, so that embedded processes never import the Kafka client."""

from __future__ import annotations

import logging

from persistence.subscribers import ChangeHook
from processors.bus import Bus
from settings import Settings


def _not_a_cancelled_refresh(record: logging.LogRecord) -> bool:
    # kafka-python logs "Metadata refresh: failed Cancelled" at ERROR when a client is closed while it refreshes:
    # the start-up reseed closes its reader right after reading, so every API start would log a false error.
    return not record.getMessage().startswith("Metadata refresh: failed Cancelled")


def quiet_kafka_logs() -> None:
    """kafka-python logs every connection at INFO; keep its warnings (an operator's own logging config wins)."""
    logger = logging.getLogger("kafka")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    cluster = logging.getLogger("kafka.cluster")
    if _not_a_cancelled_refresh not in cluster.filters:
        cluster.addFilter(_not_a_cancelled_refresh)


def change_hook(settings: Settings, bus: Bus) -> ChangeHook | None:
    if not settings.broker:
        return None
    from processors.directory_topic import DirectoryFeed  # lazily: embedded mode needs no Kafka client
    from processors.kafka_bus import KafkaBus

    if not isinstance(bus, KafkaBus):
        raise TypeError(f"Kafka mode needs a KafkaBus to write the directory topic, not {type(bus).__name__}")
    quiet_kafka_logs()
    return DirectoryFeed(bus)
