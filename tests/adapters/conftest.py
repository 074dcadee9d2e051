"""Fixtures of the channel adapter tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.portal import PortalAdapter, PortalConfig
from govcast.sinks import SmtpSink
from tests.push_support import Receiver

PORTAL_URL = "http://portal.test/portal"
WITHDRAWN_AT = dt.datetime(2025, 3, 9, 2, 30, tzinfo=dt.UTC)


@pytest.fixture
def portal_root(tmp_path: Path) -> Path:
    return tmp_path / "portal"


@pytest.fixture
def make_portal(portal_root: Path) -> Callable[..., PortalAdapter]:
    """A portal adapter writing to `portal_root`; keyword arguments override its config."""

    def make(**changes: Any) -> PortalAdapter:
        config = PortalConfig(**{
            "root": portal_root, "base_url": PORTAL_URL, "site_name": "济南市人民政府（测试）",
            "site_domain": "www.jinan.gov.cn", "site_id_code": "3701000001", "site_sponsor": "济南市人民政府办公厅",
            "site_phone": "0531-12345", "icp": "鲁ICP备00000000号", "refresh_seconds": 0, **changes,
        })
        return PortalAdapter(config, clock=lambda: WITHDRAWN_AT)

    return make


@pytest.fixture
def portal(make_portal: Callable[..., PortalAdapter]) -> PortalAdapter:
    return make_portal()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver on loopback (verifies Standard Webhooks signatures)."""
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()
