"""The console's 新媒体待审核 pages in real Chromium: axe, desktop and phone width, and an editor who approves a
Weibo copy with an edit by keyboard alone (the review rule holds Weibo copies of every department)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.browser_support import DESKTOP, PHONE, axe, horizontal_overflow, screenshot, sign_in_by_keyboard, tab_to
from tests.conftest import Client, GovcastProcess, launch

if TYPE_CHECKING:
    from playwright.sync_api import Page

ENV = {"GOVCAST_CHANNELS": "portal,weibo", "GOVCAST_NEWMEDIA_REVIEW": "weibo",
       "GOVCAST_NEWMEDIA_SEND_WINDOW": "00:00-24:00"}  # any hour: the test runs whenever CI does


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    running = launch(request, "embedded", tmp_path_factory.mktemp("review-browser") / "data", env=ENV)
    try:
        yield running
    finally:
        running.stop()


def weibo_status(department: Client, pub_id: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        body = department.get(pub_id)
        if body["deliveries"].get("weibo", {}).get("status") == wanted:
            return body
        time.sleep(0.2)
    raise AssertionError(f"weibo of {pub_id} never became {wanted}: {body.get('deliveries')}")


def test_an_editor_reviews_and_approves_a_weibo_copy_by_keyboard(page: Page, system: GovcastProcess) -> None:
    department = Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    operator = system.token("operator", "新媒体编辑李娜")
    submitted = department.submit(sample_policy(channels=["portal", "weibo"], title="关于审核微博稿件的通知"))
    assert submitted.status_code == 202, submitted.text
    pub_id = submitted.json()["id"]
    weibo_status(department, pub_id, "awaiting_review")

    console = f"{system.url}/console"
    sign_in_by_keyboard(page, f"{console}/login", operator)
    page.wait_for_url(f"{console}/")
    page.goto(f"{console}/reviews")
    assert "关于审核微博稿件的通知" in page.locator("main").inner_text()
    assert not axe(page), "/console/reviews"
    screenshot(page, "console-reviews")
    page.set_viewport_size(PHONE)
    page.goto(f"{console}/reviews")
    assert horizontal_overflow(page) == []  # the table scrolls inside its frame, the page does not
    page.set_viewport_size(DESKTOP)

    tab_to(page, href=f"/console/reviews/{pub_id}/weibo")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/reviews/{pub_id}/weibo")
    assert not axe(page), "review page"
    screenshot(page, "console-review-weibo")
    page.set_viewport_size(PHONE)
    page.reload()
    assert horizontal_overflow(page) == []
    page.set_viewport_size(DESKTOP)

    tab_to(page, element_id="text")  # Tab on to the post text
    page.keyboard.press("Control+A")
    page.keyboard.type("【审核通知】经编辑修改的微博正文。")
    tab_to(page, text="审核通过并发布")
    page.keyboard.press("Enter")
    page.wait_for_load_state()

    body = weibo_status(department, pub_id, "delivered")
    posted = [e for e in body["timeline"] if e["channel"] == "weibo"]
    assert any("新媒体编辑李娜" in str(e) for e in posted), posted  # the editor is named on the timeline
    posts = requests.get(f"{system.url}/sandbox/weibo/_inspect", timeout=10).json()["posts"]
    assert any("经编辑修改的微博正文" in str(post) for post in posts), posts  # the edited words went out
