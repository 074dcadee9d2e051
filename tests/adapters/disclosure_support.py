"""A disclosure sandbox served over real HTTP on a local port, and publications that name units."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.base import AdapterServices
from adapters.disclosure import SANDBOX_SECRET, DisclosureAdapter, DisclosureConfig
from adapters.disclosure.render import render_disclosure
from adapters.disclosure.sandbox import Platform, create_sandbox
from adapters.disclosure.units import load_units
from govcast.samples import sample_policy
from persistence.ledger import Ledger
from persistence.store import StatusStore
from processors.normalize import normalize
from schemas.delivery import Action, DeliveryTask, delivery_id
from schemas.publication import IndexNo, Publication, PublicationIn
from settings import Settings
from tests.conftest import free_port

APP_ID = "govcast-test"
PREFIX = "/sandbox/disclosure"  # served under a prefix, as `govcast run` mounts it: signed paths include it
WATER_A = "91370100MA3C8W1A0N"  # 济南泉城供水有限公司（演示）
WATER_B = "91370112MA3D2K7B1C"  # 济南东郊水务有限公司（演示）
GAS = "91370100MA3E5P2C4L"


@dataclass
class SandboxServer:
    platform: Platform
    url: str  # API root of the platform (with the mount prefix)


@contextmanager
def serve_sandbox() -> Iterator[SandboxServer]:
    platform = Platform(app_id=APP_ID, secret=SANDBOX_SECRET, units=load_units(None))
    app = Starlette(routes=[Mount(PREFIX, app=create_sandbox(platform))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "sandbox did not start"
    try:
        yield SandboxServer(platform, f"http://127.0.0.1:{port}{PREFIX}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def water_notice(pub_id: str = "pub_water0001", version: int = 1, **changes: Any) -> Publication:
    """A 供水 notice concerning the two sample water companies, normalized as the API would store it."""
    payload = sample_policy(
        title="关于2025年第二季度居民生活用水水质检测结果的公告", kind="notice", category="通知公告", doc_no="",
        body="<p>根据《生活饮用水卫生标准》，现将本季度出厂水、管网水水质检测结果公告如下。</p>",
        units=[WATER_A, WATER_B], disclosure_matter="水质信息",
    )
    payload.update(changes)
    fields = PublicationIn.model_validate(payload)
    index = IndexNo(code=fields.publisher_code, year=2025, sequence=7, width=5)
    return normalize(fields, publication_id=pub_id, version=version, department=fields.publisher_code, index=index,
                     submitted_at=dt.datetime(2025, 4, 1, 2, 0, tzinfo=dt.UTC))


class DisclosureHandle:
    """The shared adapter contract's handle (tests/adapters/test_adapter_contract.py): sandbox + ledger + adapter."""

    def __init__(self, tmp: Path) -> None:
        self._serving = serve_sandbox()
        self.server = self._serving.__enter__()
        self.ledger = Ledger(StatusStore(f"sqlite:///{tmp}/disclosure-ledger.db").engine)

    def stop(self) -> None:
        self._serving.__exit__(None, None, None)

    def adapter(self) -> DisclosureAdapter:
        config = DisclosureConfig(base_url=self.server.url, app_id=APP_ID, secret=SecretStr(SANDBOX_SECRET), timeout=5,
                                  sandbox=True)
        return DisclosureAdapter(config, AdapterServices(ledger=self.ledger, public_url="http://gov.test"))

    def task(self) -> DeliveryTask:
        pub = water_notice()
        return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "disclosure", Action.publish), channel="disclosure",
                            action=Action.publish, publication=pub,
                            rendition=render_disclosure(pub, Settings(public_url="http://gov.test")))

    def faults(self, **spec: Any) -> None:
        requests.post(self.server.url + "/_faults", json={"clear": True, **spec}, timeout=5).raise_for_status()
