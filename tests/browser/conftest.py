"""Fixtures for browser tests: one headless Chromium per session, a fresh page per test.

Debian's chromium driven by Playwright for Python with the system executable (no downloaded
browser build). Browser tests live in this folder; they run last in a session (Playwright's sync
API keeps an event loop running in the main thread, which would break every later test using
asyncio.run), and skip with the reason where Chromium or axe-core is missing, except in CI
(CI set), where that is a failure. Helpers: tests/browser_support.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, missing_browser_parts, written_screenshots

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

HERE = Path(__file__).resolve().parent


def _in_browser_folder(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests after all others (stable order otherwise), so the browser can live for the session."""
    items.sort(key=_in_browser_folder)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = written_screenshots()
    if shots:
        terminalreporter.write_sep("-", f"{len(shots)} browser screenshots in {shots[0].parent}")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if missing := missing_browser_parts():
        message = "browser tests need " + "; ".join(missing) + " (bash tests/browser/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own context: no cookies or storage shared between tests) at desktop size, zh-CN."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
