"""A `govcast run` without the push channel, in real Chromium: a business that reaches /subscribe (a bookmark,
an old link) reads a clear page saying policy push is not offered, with no form to fill in; axe-core finds no
serious or critical violations; screenshots at desktop and phone width."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser_support import PHONE, axe, horizontal_overflow, screenshot
from tests.conftest import launch

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_subscribe_says_push_is_not_offered(request: pytest.FixtureRequest, page: Page,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    system = launch(request, "embedded", tmp_path_factory.mktemp("unoffered") / "data", env={"GOVCAST_CHANNELS": "portal"})
    try:
        answer = page.goto(f"{system.url}/subscribe")
        assert answer is not None and answer.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "未开通惠企政策推送"
        assert "不接受订阅申请" in page.get_by_role("alert").inner_text()
        assert page.locator("form").count() == 0
        assert page.get_by_role("link", name="管理我的订阅").count() == 0
        assert not axe(page)
        screenshot(page, "subscribe-not-offered")
        page.set_viewport_size(PHONE)
        assert horizontal_overflow(page) == []
        page.get_by_role("link", name="返回网站首页").click()
        assert page.url.rstrip("/").endswith("/portal")
    finally:
        system.stop()
