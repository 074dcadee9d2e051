"""Assemble the parts one process needs: store, bus, adapters, stage context."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from adapters import channels
from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.portal.config import portal_config
from adapters.push.adapter import PushAdapter
from adapters.push.service import PushService
from govcast.clock import PipelineClock
from persistence import writer_turn
from persistence.ledger import Ledger
from persistence.store import StatusStore
from processors.bus import Bus, Outbound
from processors.channel_threads import ChannelThreads
from processors.directory_hook import change_hook
from processors.stages import StageContext
from settings import Settings

__all__ = ["NoBus", "Runtime", "adapter_configs", "make_bus", "portal_config"]


def adapter_configs(settings: Settings) -> dict[str, AdapterConfig]:
    return channels.adapter_configs(settings, settings.channels)


def make_bus(settings: Settings, store: StatusStore | None = None) -> Bus:
    """Kafka with a broker, else the embedded log: in the store's SQLite file when the store is SQLite (`store`:
    its writers and the log's then take one writer turn), where a data dir's old `bus.db` is merged first."""
    if settings.broker:
        from processors.kafka_bus import KafkaBus  # imported lazily: embedded mode needs no Kafka client

        return KafkaBus(settings.broker)
    from processors.embedded.log import SqliteLog

    in_store_file = store is not None and settings.log_path != settings.legacy_log_path
    turn = writer_turn.of(store.engine) if store is not None and in_store_file else None
    if store is not None and in_store_file:  # the projection's inputs are committed consumed later in this file
        store.flush_projection = False
    bus = SqliteLog(settings.log_path, default_partitions=settings.partitions, turn=turn)
    bus.absorb(settings.legacy_log_path)
    return bus


class NoBus:
    """The bus of a command that must not send anything."""

    def send(self, messages: list[Outbound]) -> None:
        raise RuntimeError("this command has no message bus")

    def close(self) -> None:
        pass


@dataclass
class Runtime:
    settings: Settings
    store: StatusStore
    bus: Bus
    adapters: dict[str, ChannelAdapter]
    ledger: Ledger
    clock: PipelineClock

    @classmethod
    def build(cls, settings: Settings, *, with_adapters: bool = True, with_bus: bool = True) -> Runtime:
        """`with_bus=False` for commands that only touch the store (token create): no bus.db, no broker."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.clock_start is not None and not settings.sandboxes:
            raise ValueError("GOVCAST_CLOCK_START shifts the pipeline clock: only for sandbox mode (demos, tests)")
        store = StatusStore(settings.store, auto_upgrade=settings.db_auto_upgrade)
        ledger = Ledger(store.engine)
        clock = PipelineClock(settings.clock_start)
        services = AdapterServices(ledger=ledger, public_url=settings.base_url, clock=clock.now)
        adapters = channels.build_adapters(adapter_configs(settings), services) if with_adapters else {}
        return cls(settings, store, make_bus(settings, store) if with_bus else NoBus(), adapters, ledger, clock)

    def __post_init__(self) -> None:
        if self.settings.broker and "push" in self.adapters:  # Kafka mode: push reads the directory topic
            attach_topic_directory(self)

    @functools.cached_property
    def threads(self) -> ChannelThreads:
        return ChannelThreads(self.settings.channel_concurrency)

    def context(self) -> StageContext:
        return StageContext(settings=self.settings, store=self.store, adapters=self.adapters, renderers=channels.renderers(),
                            push=self.push_service(), clock=self.clock.now, threads=self.threads)

    def push_service(self) -> PushService | None:
        """The push feature for the push stages, when this process delivers push."""
        push = self.adapters.get("push")
        return push if isinstance(push, PushAdapter) else None

    def close(self) -> None:
        self.threads.close()
        for adapter in self.adapters.values():
            adapter.close()
        self.bus.close()
        self.store.close()


def attach_topic_directory(runtime: Runtime) -> None:
    """In Kafka mode the push adapter reads the directory from its topic (idempotent; no-op without push)."""
    from adapters.push.adapter import PushAdapter
    from processors.directory_topic import TopicDirectory
    from processors.kafka_bus import KafkaBus

    push = runtime.adapters.get("push")
    if not runtime.settings.broker or not isinstance(push, PushAdapter) or not isinstance(runtime.bus, KafkaBus):
        return
    if isinstance(push.directory, TopicDirectory):
        return
    push.store.on_change = change_hook(runtime.settings, runtime.bus)
    push.directory = TopicDirectory(runtime.bus.servers).start()
