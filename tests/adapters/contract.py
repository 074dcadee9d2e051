"""The rows of the shared adapter contract (tests/adapters/test_adapter_contract.py).

A channel joins the harness with a module `tests/adapters/contract_<channel>.py` defining `CASE`: how to
start its sandbox on a real port (`start(tmp_path)` → a handle with `.stop()`), how to build its adapter
and a publish task against that handle, how to inject a fault, its secret config fields, and a table of
(injected fault → expected typed result kind, optionally its `code`). The harness finds it through the
channel registry (adapters/channels.py): nothing else to edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.base import ChannelAdapter
from schemas import DeliveryTask


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
