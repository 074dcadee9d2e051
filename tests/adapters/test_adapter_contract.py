"""The shared, table-driven contract every platform adapter meets (config round trip, masked secrets, error mapping).

To cover another channel, append a `ContractCase` to CASES: how to start its sandbox on a real
port (`start(tmp_path)` → a handle with `.stop()`), how to build its adapter and a publish task
against that handle, how to inject a fault, its secret config fields, and a table of
(injected fault → expected typed result kind, optionally its `code`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.base import AdapterConfig, ChannelAdapter
from adapters.registry import REGISTRY
from schemas import DeliveryTask
from tests.adapters.disclosure_support import DisclosureHandle
from tests.adapters.newmedia_support import Platforms, publication


@dataclass(frozen=True)
class Fault:
    name: str
    inject: dict[str, Any]
    kind: str  # delivered | retryable | rejected | pending | unknown
    code: str | None = None


@dataclass(frozen=True)
class ContractCase:
    channel: str
    start: Callable[[Path], Any]
    adapter: Callable[[Any], ChannelAdapter]
    task: Callable[[Any], DeliveryTask]
    inject: Callable[[Any, dict[str, Any]], None]
    secret_fields: tuple[str, ...]
    faults: tuple[Fault, ...]
    runtime_secrets: Callable[[Any], list[str]] = lambda handle: []  # e.g. access tokens obtained while running


def _wechat_tokens(platforms: Platforms) -> list[str]:
    token = platforms.ledger.get("wechat", "token:wx_sandbox_appid").get("access_token")
    return [token] if token else []


CASES: list[ContractCase] = [
    ContractCase(
        channel="wechat",
        start=lambda tmp: Platforms(tmp).start(),
        adapter=lambda p: p.wechat(timeout_seconds=0.5),
        task=lambda p: p.task("wechat", publication()),
        inject=lambda p, faults: p.faults("wechat", **faults),
        secret_fields=("secret",),
        runtime_secrets=_wechat_tokens,
        faults=(
            Fault("ok", {}, "pending"),
            Fault("busy (-1)", {"busy": 1}, "retryable"),
            Fault("per-minute quota (45011)", {"minute_quota": 1}, "retryable"),
            Fault("daily quota (45009)", {"quota": True}, "retryable"),
            Fault("token expired (42001, refreshed)", {"expire_token": True}, "pending"),
            Fault("publish check (53503)", {"check_fail": 1}, "rejected", "content"),
            Fault("unverified account (48001)", {"unverified": True}, "rejected", "configuration"),
            Fault("submit timeout", {"timeout_submit": 1, "delay_seconds": 1.5}, "unknown"),
        ),
    ),
    ContractCase(
        channel="weibo",
        start=lambda tmp: Platforms(tmp).start(),
        adapter=lambda p: p.weibo(timeout_seconds=0.5),
        task=lambda p: p.task("weibo", publication()),
        inject=lambda p, faults: p.faults("weibo", **faults),
        secret_fields=("access_token",),
        faults=(
            Fault("ok", {}, "delivered"),
            Fault("system error (10001)", {"busy": 1}, "retryable"),
            Fault("user rate limit (10023)", {"rate_limit": 1}, "retryable"),
            Fault("IP rate limit (10022)", {"ip_rate_limit": 1}, "retryable"),
            Fault("token expired (21327)", {"expire_token": True}, "rejected", "configuration"),
            Fault("token invalid (21332)", {"revoke_token": True}, "rejected", "configuration"),
            Fault("share timeout", {"timeout_share": 1, "delay_seconds": 1.5}, "unknown"),
        ),
    ),
    ContractCase(
        channel="disclosure",
        start=DisclosureHandle,
        adapter=lambda h: h.adapter(),
        task=lambda h: h.task(),
        inject=lambda h, faults: h.faults(**faults),
        secret_fields=("secret",),
        faults=(
            Fault("ok", {}, "delivered"),
            Fault("maintenance (503 MAINTENANCE)", {"maintenance_seconds": 120}, "retryable"),
            Fault("rate limit (429 RATE_LIMITED)", {"rate_limit": {"requests": 1, "retry_after": 5}}, "retryable"),
            Fault("content rejected (422)", {"reject": {"requests": 1, "code": "CONTENT_REJECTED"}}, "rejected", "CONTENT_REJECTED"),
            Fault("invalid unit (422)", {"reject": {"requests": 1, "code": "INVALID_UNIT"}}, "rejected", "INVALID_UNIT"),
        ),
    ),
]


@pytest.fixture(params=CASES, ids=[c.channel for c in CASES])
def case(request: pytest.FixtureRequest) -> ContractCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def handle(case: ContractCase, tmp_path: Path) -> Iterator[Any]:
    started = case.start(tmp_path)
    yield started
    started.stop()


def test_registered_with_its_config_type(case: ContractCase, handle: Any) -> None:
    adapter = case.adapter(handle)
    config_type, _ = REGISTRY[case.channel]
    config: AdapterConfig = adapter.config  # type: ignore[attr-defined]
    assert isinstance(config, config_type) and adapter.channel == case.channel
    assert isinstance(adapter, ChannelAdapter)
    adapter.close()


def test_config_round_trip(case: ContractCase, handle: Any) -> None:
    config: AdapterConfig = case.adapter(handle).config  # type: ignore[attr-defined]
    config_type = type(config)
    assert config_type.model_validate(config.model_dump()) == config
    assert config.sandbox is True
    with pytest.raises(ValueError):
        config_type.model_validate({**config.model_dump(), "no_such_field": 1})  # typos are refused
    for name in case.secret_fields:
        assert isinstance(getattr(config, name), SecretStr)


def test_secrets_are_masked_in_repr_str_json_and_logs(case: ContractCase, handle: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    adapter = case.adapter(handle)
    config: AdapterConfig = adapter.config  # type: ignore[attr-defined]
    secrets = [getattr(config, name).get_secret_value() for name in case.secret_fields]
    assert all(secrets)
    with caplog.at_level(logging.DEBUG):
        for fault in case.faults:
            case.inject(handle, fault.inject)
            adapter.deliver(case.task(handle))
    secrets += case.runtime_secrets(handle)
    shown = [repr(config), str(config), config.model_dump_json(), repr(adapter), caplog.text]
    for secret in secrets:
        for text in shown:
            assert secret not in text


@pytest.mark.parametrize(
    ("case", "fault"),
    [(c, f) for c in CASES for f in c.faults],  # each channel with exactly its own fault rows
    ids=[f"{c.channel}-{f.name}" for c in CASES for f in c.faults],
    indirect=["case"],
)
def test_error_mapping(case: ContractCase, handle: Any, fault: Fault) -> None:
    case.inject(handle, fault.inject)
    result = case.adapter(handle).deliver(case.task(handle))
    assert result.kind == fault.kind, (fault.name, result)
    if fault.code is not None:
        assert getattr(result, "code", None) == fault.code, (fault.name, result)
