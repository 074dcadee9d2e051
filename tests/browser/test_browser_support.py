"""The browser helpers catch what they promise to catch (so a green page test means something).

Each case loads a small page with one known defect and checks that the helper fails on it,
naming the element; the same page without the defect passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image

from tests.browser_support import assert_keyboard_reaches_all, axe, screenshot, screenshots_dir, tab_through, tab_to

if TYPE_CHECKING:
    from playwright.sync_api import Page

GOOD = """<!DOCTYPE html><html lang="zh-CN"><head><title>测试页</title>
<style>a:focus-visible, button:focus-visible {{ outline: 3px solid #000; outline-offset: 2px; }} {extra_css}</style></head>
<body><header><a href="/home">首页</a></header><main><h1>标题</h1>
<p style="color: {ink}">正文</p><a href="/one">第一篇</a> <button type="button">按钮</button> {extra}</main></body></html>"""


def page_with(page: Page, *, ink: str = "#222", extra: str = "", extra_css: str = "") -> None:
    page.set_content(GOOD.format(ink=ink, extra=extra, extra_css=extra_css))


def test_axe_passes_a_clean_page_and_names_the_rule_and_element_of_a_broken_one(page: Page) -> None:
    page_with(page)
    assert not axe(page)

    page_with(page, ink="#bbb", extra='<img src="/chart.png" id="chart">')
    found = axe(page)
    assert {v.rule for v in found} == {"color-contrast", "image-alt"}
    report = repr(found)
    assert "[critical] image-alt" in report and "at #chart" in report
    assert "https://dequeuniversity.com/rules/axe/" in report


def test_tab_through_fails_on_a_control_without_visible_focus(page: Page) -> None:
    page_with(page)
    stops = tab_through(page)
    assert [s.href or s.tag for s in stops] == ["/home", "/one", "button"]

    page_with(page, extra_css="#one-link:focus-visible { outline: none; }",
              extra='<a id="one-link" href="/two">没有焦点框</a>')
    with pytest.raises(AssertionError, match=r"/two .*no visible focus indicator"):
        tab_through(page)


def test_a_background_change_counts_as_visible_focus(page: Page) -> None:
    page_with(page, extra_css="#bg:focus-visible { outline: none; background: #ffd500; }",
              extra='<a id="bg" href="/three">背景变色</a>')
    assert tab_through(page)[-1].href == "/three"


def test_reaches_all_names_controls_that_tab_skips(page: Page) -> None:
    page_with(page, extra='<a href="/hidden-from-keyboard" tabindex="-1">鼠标才能点</a>')
    with pytest.raises(AssertionError, match="Tab never reaches:\n  /hidden-from-keyboard"):
        assert_keyboard_reaches_all(page, selector="a[href], button")


def test_tab_to_moves_both_ways_and_fails_when_absent(page: Page) -> None:
    page_with(page)
    assert tab_to(page, href="/one").text == "第一篇"
    assert tab_to(page, text="首页", backwards=True).href == "/home"
    with pytest.raises(AssertionError, match="never reached"):
        tab_to(page, href="/nowhere")


def test_screenshot_writes_desktop_and_phone_widths(page: Page) -> None:
    page_with(page)
    desktop, phone = screenshot(page, "browser-support self-test")
    assert desktop.parent == screenshots_dir()
    assert desktop.name == "browser-support-self-test-desktop.png"
    assert Image.open(desktop).width == 1280
    assert Image.open(phone).width == 390
    assert page.viewport_size == {"width": 1280, "height": 800}
