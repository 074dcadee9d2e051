"""Fixtures of the processor tests: the real Kafka broker for the faust host (see tests/kafka_fixtures.py)."""

from tests.kafka_fixtures import kafka_broker, kafka_url

__all__ = ["kafka_broker", "kafka_url"]
