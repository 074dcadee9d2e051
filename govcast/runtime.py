"""Assemble the parts one process needs: store, bus, adapters, stage context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.portal import PortalConfig
from adapters.push import push_config
from adapters.registry import build_adapters
from adapters.wechat import wechat_config
from adapters.weibo import weibo_config
from govcast.clock import PipelineClock
from govcast.settings import Settings
from persistence.ledger import Ledger
from persistence.store import StatusStore
from processors.bus import Bus, Outbound
from processors.channel_threads import ChannelThreads
from processors.directory_hook import change_hook
from processors.render.channels import RENDERERS
from processors.stages import StageContext


def portal_config(settings: Settings) -> AdapterConfig:
    return PortalConfig(
        root=settings.portal_dir,
        base_url=f"{settings.base_url}/portal",
        site_name=settings.site_name,
        site_domain=settings.site_domain,
        site_id_code=settings.site_id_code,
        site_sponsor=settings.site_sponsor,
        site_phone=settings.site_phone,
        icp=settings.icp,
        categories=settings.categories,
        page_size=settings.page_size,
        refresh_seconds=settings.portal_refresh_seconds,
        police_beian=settings.site_police_beian,
        conac_url=settings.site_conac_url,
        error_report_url=settings.site_error_report_url,
        sandbox=settings.sandboxes,  # the 演示环境 banner and noindex: a demo must not pass for the real site
    )


def disclosure_config(settings: Settings) -> AdapterConfig:
    """The configured platform, or the bundled sandbox (with its demo secret) when no URL is set."""
    from adapters.disclosure import SANDBOX_SECRET, DisclosureConfig

    secret = settings.disclosure_secret.get_secret_value()
    if settings.disclosure_url and not secret:
        raise ValueError("GOVCAST_DISCLOSURE_SECRET is required when GOVCAST_DISCLOSURE_URL names a platform")
    if not settings.disclosure_url and not settings.sandboxes:
        raise ValueError("the disclosure channel needs GOVCAST_DISCLOSURE_URL (the sandbox is not mounted); "
                         "or leave disclosure out of GOVCAST_CHANNELS")
    return DisclosureConfig(
        base_url=settings.disclosure_url or f"{settings.base_url}/sandbox/disclosure",
        app_id=settings.disclosure_app_id, secret=SecretStr(secret or SANDBOX_SECRET),
        timeout=settings.disclosure_timeout_seconds, sandbox=not settings.disclosure_url,
    )


# channel -> typed adapter config built from settings (explicit, one line per channel)
CONFIG_BUILDERS: dict[str, Callable[[Settings], AdapterConfig]] = {
    "portal": portal_config,
    "wechat": wechat_config,
    "weibo": weibo_config,
    "disclosure": disclosure_config,
    "push": push_config,
}


def adapter_configs(settings: Settings) -> dict[str, AdapterConfig]:
    unknown = [c for c in settings.channels if c not in CONFIG_BUILDERS]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(CONFIG_BUILDERS)}")
    return {channel: CONFIG_BUILDERS[channel](settings) for channel in settings.channels}


def make_bus(settings: Settings) -> Bus:
    if settings.broker:
        from processors.kafka_bus import KafkaBus  # imported lazily: embedded mode needs no Kafka client

        return KafkaBus(settings.broker)
    from processors.embedded.log import SqliteLog

    return SqliteLog(settings.log_path, default_partitions=settings.partitions)


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
        adapters = build_adapters(adapter_configs(settings), services) if with_adapters else {}
        return cls(settings, store, make_bus(settings) if with_bus else NoBus(), adapters, ledger, clock)

    def __post_init__(self) -> None:
        if self.settings.broker and "push" in self.adapters:  # Kafka mode: push reads the directory topic
            attach_topic_directory(self)

    @functools.cached_property
    def threads(self) -> ChannelThreads:
        return ChannelThreads(self.settings.channel_concurrency)

    def context(self) -> StageContext:
        return StageContext(settings=self.settings, store=self.store, adapters=self.adapters, renderers=dict(RENDERERS),
                            clock=self.clock.now, threads=self.threads)

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
