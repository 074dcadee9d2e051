"""What the Kafka host (processors.faust_host) needs around its agents: topics, client logs, parked messages."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from faust.types import TP
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from processors.bus import Outbound
from processors.topology import SOURCE
from schemas.events import Topics, derived_id, new_event

log = logging.getLogger("govcast.faust")

MALFORMED = "gov.govcast.message.malformed"  # a message that is not a CloudEvent this route can read
# faust imports most of itself lazily, on first use: ~0.5 s of imports that would run inside the event loop
# when the App is built, stalling the API that shares the loop in `govcast run`. run() imports them in a thread.
FAUST_MODULES = ("faust.app.base", "faust.app.router", "faust.agents", "faust.assignor", "faust.auth", "faust.channels",
                 "faust.events", "faust.fixups.django", "faust.joins", "faust.models", "faust.sensors",
                 "faust.serializers", "faust.stores.memory", "faust.streams", "faust.tables", "faust.tables.objects",
                 "faust.tables.sets", "faust.topics", "faust.transport.drivers.aiokafka", "faust.transport.utils",
                 "faust.web", "faust.windows", "faust.worker")


def prepare(servers: list[str], topics: list[str], partitions: int) -> None:
    for module in FAUST_MODULES:
        importlib.import_module(module)
    ensure_topics(servers, topics, partitions)


def ensure_topics(servers: list[str], topics: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet (the broker may run with auto-create off); return them."""
    # Bounded: a worker started while the broker is down retries from run(), and a stop must not wait 30 s+.
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="govcast-admin", request_timeout_ms=15_000,
                             bootstrap_timeout_ms=10_000, reconnect_backoff_max_ms=2_000)
    try:
        missing = sorted(set(topics) - set(admin.list_topics()))
        if not missing:
            return []
        # replication_factor -1: the broker's default.replication.factor (1 locally, 3 on a real cluster).
        answer = admin.create_topics({t: {"num_partitions": partitions, "replication_factor": -1} for t in missing},
                                     raise_errors=False)
        for topic in answer["topics"]:
            if topic["error_code"] not in (0, TopicAlreadyExistsError.errno):  # another worker was faster
                raise RuntimeError(f"cannot create topic {topic['name']}: error {topic['error_code']} "
                                   f"{topic.get('error_message') or ''}")
        admin.wait_for_topics(missing, timeout_ms=30_000)
        log.info("created Kafka topics (%d partitions): %s", partitions, " ".join(missing))
        return missing
    finally:
        admin.close()


def quiet_client_logs() -> None:
    """faust, mode and the Kafka clients log every start step and connection at INFO; keep their warnings only.

    Only loggers nobody configured are touched, so an operator's logging config still wins.
    """
    for name in ("faust", "mode", "aiokafka", "kafka"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def parked(message: Any, error: Exception) -> Outbound:
    """A dead-letter CloudEvent wrapping a message nobody can read, so operators see what arrived where."""
    where = f"{message.topic}/{message.partition}/{message.offset}"
    key = message.key.decode("utf-8", "replace") if message.key else where
    value = message.value.decode("utf-8", "replace") if isinstance(message.value, bytes) else None
    data = {"topic": message.topic, "partition": message.partition, "offset": message.offset, "key": key,
            "error": f"{type(error).__name__}: {error}"[:2000], "value": value}
    # The id derives from the position, so parking the same message again (replay) repeats the same event.
    event = new_event(MALFORMED, SOURCE, None, data, event_id=derived_id(f"malformed/{where}", 0))
    return Outbound(Topics.deadletter, key, event)


def describe_assignment(assigned: set[TP]) -> str:
    """{TP("govcast.status", 0), TP("govcast.status", 2)} -> "govcast.status[0,2]" (topics sorted)."""
    by_topic: dict[str, list[int]] = {}
    for tp in assigned:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return " ".join(f"{t}[{','.join(map(str, sorted(ps)))}]" for t, ps in sorted(by_topic.items())) or "none"
