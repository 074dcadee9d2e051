"""Today's portal in real Chromium: axe-core, keyboard-only use, screenshots at desktop and phone width.

One `govcast run` (embedded) for the module, with the bundled sample policy and its
interpretation published by `govcast demo`, as a first-time user would do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT
from tests.browser_support import PHONE, assert_keyboard_reaches_all, axe, horizontal_overflow, screenshot, tab_to
from tests.conftest import GovcastProcess, cli, launch

if TYPE_CHECKING:
    from playwright.sync_api import Page


@dataclass(frozen=True)
class Portal:
    home: str
    column: str  # the 政策文件 list page (…/zcwj/index.html, as the portal links it)
    policy: str
    interpretation: str

    def url(self, name: str) -> str:
        return str(getattr(self, name))

    @property
    def search(self) -> str:
        return f"{self.home}search?q=政务公开"

    @property
    def library(self) -> str:
        return f"{self.home}zcwjk/"

    @property
    def site_map(self) -> str:
        return f"{self.home}sitemap.html"

    @property
    def not_found(self) -> str:
        return f"{self.home}no-such-page.html"


@pytest.fixture(scope="module")
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    system: GovcastProcess = launch(request, "embedded", tmp_path_factory.mktemp("portal-browser") / "data")
    try:
        token = system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
        done = cli("demo", "--url", system.url, "--token", token, env=system.env, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        headers = {"Authorization": f"Bearer {token}"}
        items = requests.get(f"{system.url}/v1/publications", headers=headers, timeout=10).json()["items"]
        urls = {}
        for item in items:
            body = requests.get(f"{system.url}{item['links']['self']}", headers=headers, timeout=10).json()
            urls[item["kind"]] = body["deliveries"]["portal"]["url"]
        policy = urls["policy"]
        yield Portal(home=f"{system.url}/portal/", column=policy.rsplit("/", 1)[0] + "/index.html",
                     policy=policy, interpretation=urls["interpretation"])
    finally:
        system.stop()


PAGES = ["home", "column", "policy", "interpretation", "search", "library", "site_map", "not_found"]


@pytest.mark.parametrize("name", PAGES)
def test_page_is_valid_html5(portal: Portal, name: str) -> None:
    """html5lib in strict mode raises on the first parse error of the WHATWG algorithm."""
    import html5lib  # type: ignore[import-untyped]

    response = requests.get(portal.url(name), timeout=10)
    assert response.status_code == (404 if name == "not_found" else 200)
    assert response.headers["content-type"].startswith("text/html")
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(response.content.decode("utf-8"))


@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_serious_accessibility_violations(page: Page, portal: Portal, name: str) -> None:
    page.goto(portal.url(name))
    screenshot(page, f"portal-{name}")
    assert not axe(page)


@pytest.mark.parametrize("mode", ["normal", "a11y-large"])
@pytest.mark.parametrize("name", PAGES)
def test_page_fits_a_phone_without_sideways_scrolling(page: Page, portal: Portal, name: str, mode: str) -> None:
    page.set_viewport_size(PHONE)
    page.goto(portal.url(name))
    if mode != "normal":
        page.evaluate("mode => document.documentElement.classList.add(mode)", mode)
    assert horizontal_overflow(page) == []


@pytest.mark.parametrize("name", PAGES)
def test_keyboard_reaches_every_link_with_a_visible_focus_ring(page: Page, portal: Portal, name: str) -> None:
    page.goto(portal.url(name))
    stops = assert_keyboard_reaches_all(page)
    assert stops[0].text == "跳到主要内容", "the skip link is the first stop"
    assert portal.home in {(s.url or "").removesuffix("index.html") for s in stops}, "the home link is reachable"


def test_reading_path_by_keyboard_alone(page: Page, portal: Portal) -> None:
    """Home → 政策文件 column → the policy → its interpretation → back to the policy, with Tab and Enter only."""
    page.goto(portal.home)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link: focus moves into the main content
    assert page.evaluate("document.activeElement.id") == "main"

    page.keyboard.press("Tab")  # the next stop is the first link in main, the 政策文件 column heading
    assert page.evaluate("[document.activeElement.closest('main') !== null, document.activeElement.innerText]") == [
        True, "政策文件"]
    page.keyboard.press("Enter")
    page.wait_for_url(portal.column)

    tab_to(page, url=portal.policy)
    page.keyboard.press("Enter")
    page.wait_for_url(portal.policy)
    assert page.locator("h1").inner_text().startswith("济南市人民政府办公厅关于印发")

    tab_to(page, url=portal.interpretation)
    page.keyboard.press("Enter")
    page.wait_for_url(portal.interpretation)
    assert "解读" in page.locator("h1").inner_text()

    tab_to(page, url=portal.policy)
    page.keyboard.press("Shift+Tab")  # backwards one stop and forwards again lands on the same link
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(portal.policy)


def test_reading_modes_switch_by_keyboard_and_stay_accessible(page: Page, portal: Portal) -> None:
    """大字模式 and 高对比度 (elderly-friendly rules) work with Space and Enter, are remembered, and pass axe."""
    page.goto(portal.policy)
    font_before = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.article-body')).fontSize)")
    tab_to(page, text="高对比度")
    page.keyboard.press("Space")
    tab_to(page, text="大字模式", backwards=True)
    page.keyboard.press("Enter")
    assert page.locator("button[data-mode]").evaluate_all("bs => bs.map(b => b.getAttribute('aria-pressed'))") == [
        "true", "true"]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.article-body')).fontSize)") > font_before * 1.3

    page.goto(portal.interpretation)  # remembered on the next page
    assert page.evaluate("document.documentElement.className.split(' ').sort()") == ["a11y-contrast", "a11y-large"]
    screenshot(page, "portal-interpretation-large-contrast")
    assert not axe(page)
    assert_keyboard_reaches_all(page)
