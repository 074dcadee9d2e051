"""The shared, table-driven contract every platform adapter meets (config round trip, masked secrets, error mapping).

Rows come from the channels themselves: for every channel in the registry (adapters/channels.py) the
module `tests/adapters/contract_<channel>.py` defines its `CASE` (see tests/adapters/contract.py). A
channel with a sandbox platform and no row fails `test_every_platform_channel_has_a_row`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.base import AdapterConfig, ChannelAdapter
from adapters.channels import spec_of, specs
from tests.adapters.contract import ContractCase, Fault

# Channels tested by their own suites instead: the portal has no platform; push talks to four platforms
# per business (tests/adapters/test_push_adapters.py, test_sms.py, test_wechat_template.py).
OWN_SUITES = frozenset({"portal", "push"})


def _rows() -> list[ContractCase]:
    rows = []
    for spec in specs():
        try:
            module = importlib.import_module(f"tests.adapters.contract_{spec.name}")
        except ModuleNotFoundError:
            continue
        rows.append(module.CASE)
    return rows


CASES = _rows()


def test_every_platform_channel_has_a_row() -> None:
    covered = {case.channel for case in CASES}
    missing = [spec.name for spec in specs() if spec.sandboxes and spec.name not in covered | OWN_SUITES]
    assert not missing, f"add tests/adapters/contract_<channel>.py for {missing}"


@pytest.fixture(params=CASES, ids=[c.channel for c in CASES])
def case(request: pytest.FixtureRequest) -> ContractCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def handle(case: ContractCase, tmp_path: Path) -> Iterator[Any]:
    started = case.start(tmp_path)
    yield started
    started.stop()


def test_registered_with_typed_settings(case: ContractCase, handle: Any) -> None:
    adapter = case.adapter(handle)
    spec = spec_of(case.channel)
    assert adapter.channel == case.channel == spec.name and spec.label
    assert isinstance(adapter, ChannelAdapter)
    assert spec.settings is not None  # what operators set: GOVCAST_<CHANNEL>_*, secrets masked there too
    for name in case.secret_fields:
        assert spec.settings.model_fields[name].annotation is SecretStr
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
