"""The operator console in real Chromium: a morning's work end to end, axe on every page, one task by keyboard
alone, screenshots at desktop and phone width.

One `govcast run` (embedded) for the module with a short retry ladder (two attempts, then a dead letter), so
sandbox faults turn into failed deliveries and dead letters within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.browser_support import DESKTOP, PHONE, axe, horizontal_overflow, screenshot, sign_in_by_keyboard, tab_to
from tests.conftest import Client, GovcastProcess, launch

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHANNELS = ["portal", "weibo"]


@dataclass
class Console:
    system: GovcastProcess
    department: Client
    operator_token: str

    @property
    def url(self) -> str:
        return f"{self.system.url}/console"

    def weibo_faults(self, **faults: Any) -> None:
        response = requests.post(f"{self.system.url}/sandbox/weibo/_faults", json=faults, timeout=10,
                                 headers={"Authorization": f"Bearer {self.operator_token}"})  # sandbox controls: operators
        assert response.status_code == 200, response.text

    def submit(self, title: str, **fields: Any) -> str:
        response = self.department.submit(sample_policy(channels=CHANNELS, title=title, **fields))
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def wait_channel(self, pub_id: str, channel: str, status: str, timeout: float = 60) -> None:
        deadline, body = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            body = self.department.get(pub_id)
            if body["deliveries"].get(channel, {}).get("status") == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"{channel} of {pub_id} never became {status}: {body.get('deliveries')}")


@pytest.fixture(scope="module")
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    env = {"GOVCAST_RETRY_BASE_SECONDS": "0.2", "GOVCAST_RETRY_MAX_SECONDS": "0.5", "GOVCAST_MAX_ATTEMPTS": "2",
           "GOVCAST_CHANNELS": ",".join(CHANNELS)}
    system = launch(request, "embedded", tmp_path_factory.mktemp("console-browser") / "data", env=env)
    try:
        department = Client(system.url, system.token("department", DEMO_DEPARTMENT["name"],
                                                     DEMO_DEPARTMENT["publisher_code"]))
        yield Console(system, department, system.token("operator", "值班员张敏"))
    finally:
        system.stop()


def log_in(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/login")
    page.fill("#token", console.operator_token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/")


def confirm(page: Page, **fields: str) -> None:
    """On a confirmation page: fill what it asks, press its confirm button, land back where we came from."""
    assert page.locator("h1").inner_text().startswith("请确认")
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def chip(page: Page, pub_id: str, channel: str = "") -> Any:
    return page.locator(f'.chip[data-pub="{pub_id}"][data-channel="{channel}"]').first


def test_a_morning_at_the_console(page: Page, console: Console) -> None:
    """Log in, retry a failed delivery and watch it turn green live, requeue a channel's dead letters after an
    outage, approve a held item, retract one, log out."""
    console.weibo_faults(revoke_token=True)  # a configuration problem: Weibo rejects, nothing retries
    failed = console.submit("关于开展防汛应急演练的通知")
    console.wait_channel(failed, "weibo", "failed")
    console.weibo_faults(revoke_token=False)

    log_in(page, console)
    screenshot(page, "console-home")
    page.goto(f"{console.url}/publications?channel=weibo&status=failed")
    screenshot(page, "console-publications-failed")
    assert chip(page, failed, "weibo").inner_text() == "失败"
    page.click(f'a[href="/console/publications/{failed}"]')
    page.evaluate("window.__sameDocument = true")
    screenshot(page, "console-detail-failed")
    page.click("text=立即重试…")
    screenshot(page, "console-confirm-retry")
    confirm(page)
    assert "已安排立即重试" in page.locator("#flash").inner_text()
    page.evaluate("window.__sameDocument = true")  # the chip must change in this document, not after a reload
    page.wait_for_selector(f'.chip[data-pub="{failed}"][data-channel="weibo"][data-status="delivered"]', timeout=30_000)
    assert chip(page, failed, "weibo").inner_text() == "已送达"
    assert page.evaluate("window.__sameDocument") is True
    page.reload()  # the timeline is drawn with the page: it names who asked for the retry
    assert "值班员张敏 (操作员)" in page.locator("#h-timeline + table").inner_text()

    console.weibo_faults(busy=100)  # Weibo down: both items exhaust the ladder
    dead = [console.submit(f"关于第{n}批惠企政策兑现的通知") for n in (1, 2)]
    for pub_id in dead:
        console.wait_channel(pub_id, "weibo", "dead")
    console.weibo_faults(busy=0)  # the outage is over
    page.goto(f"{console.url}/channels")
    screenshot(page, "console-channels")
    page.click("text=重投死信…")
    assert "将重新投递 2 条死信" in page.locator("#count").inner_text()  # the count comes first
    confirm(page)
    assert "已重新投递 2 条死信" in page.locator("#flash").inner_text()
    for pub_id in dead:
        console.wait_channel(pub_id, "weibo", "delivered")

    held = console.submit("关于企业服务专员联系方式的通知",
                          body="<p>各企业：</p><p>服务专员联系电话：13912345678，工作日均可咨询。</p>")
    console.department.wait_for(held, "held")  # screening runs after acceptance: the list shows it once held
    page.goto(f"{console.url}/publications?status=held")
    page.click(f'a[href="/console/publications/{held}"]')
    assert page.locator("#h-findings ~ ul mark").count() >= 1  # what screening found is highlighted
    screenshot(page, "console-detail-held")
    page.click("text=审核通过…")
    confirm(page)
    page.wait_for_selector(f'.chip[data-pub="{held}"][data-channel=""][data-status="delivered"]', timeout=30_000)

    page.click("text=撤回…")
    screenshot(page, "console-confirm-retract")
    confirm(page, reason="联系电话应使用总机号码，撤回后重新发布")
    page.wait_for_selector(f'.chip[data-pub="{held}"][data-channel=""][data-status="retracted"]', timeout=30_000)
    assert "联系电话应使用总机号码" in page.locator("#h-timeline + table").inner_text()

    page.goto(f"{console.url}/publications")
    screenshot(page, "console-publications")  # the README's picture (docs/console.png)
    page.click("text=退出登录")
    page.wait_for_url(f"{console.url}/login?out=1")
    page.goto(f"{console.url}/publications")
    assert page.url.startswith(f"{console.url}/login?next=")


def test_every_console_page_passes_axe(page: Page, console: Console) -> None:
    pub_id = console.submit("关于无障碍检查的通知")
    console.wait_channel(pub_id, "portal", "delivered")
    page.goto(f"{console.url}/login")
    assert not axe(page)
    page.fill("#token", "gct_wrong")
    page.click("button[type=submit]")
    assert not axe(page)
    log_in(page, console)
    pages = ["/", "/publications", f"/publications/{pub_id}", "/channels", "/deadletters",
             f"/actions/retract?pub={pub_id}", "/actions/pause?channel=weibo", "/actions/requeue-channel?channel=weibo",
             "/tokens", "/publications/pub_nonexistent"]
    for path in pages:
        page.goto(f"{console.url}{path}")
        assert not axe(page), path
    page.goto(f"{console.url}/publications/{pub_id}")  # the portal page as the portal will show it
    assert "关于无障碍检查的通知" in page.frame_locator("iframe.preview").first.locator("h1").inner_text()
    for path, name in (("/", "home"), ("/publications", "publications"), (f"/publications/{pub_id}", "detail")):
        page.goto(f"{console.url}{path}")
        screenshot(page, f"console-{name}")  # desktop and phone width
        page.set_viewport_size(PHONE)
        page.goto(f"{console.url}{path}")
        assert horizontal_overflow(page) == [], path  # wide tables scroll inside their frame, the page does not
        page.set_viewport_size(DESKTOP)


def test_pausing_and_resuming_a_channel_by_keyboard_alone(page: Page, console: Console) -> None:
    sign_in_by_keyboard(page, f"{console.url}/login", console.operator_token)  # the page starts in the token field
    page.wait_for_url(f"{console.url}/")

    tab_to(page, href="/console/channels")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/channels")
    tab_to(page, href="/console/actions/pause?channel=weibo&back=/console/channels")
    page.keyboard.press("Enter")
    page.wait_for_url("**/actions/pause?**")
    tab_to(page, element_id="reason")
    page.keyboard.type("微博账号年检")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.innerText") == "确认暂停"
    assert "一秒内对所有投递生效" in page.locator("main").inner_text()  # the operator is told when the pause holds
    screenshot(page, "console-pause-confirm")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/channels?done=pause")
    assert "微博 已暂停" in page.locator(".banner.paused").inner_text()
    screenshot(page, "console-channels-paused")

    tab_to(page, href="/console/actions/resume?channel=weibo&back=/console/channels")
    page.keyboard.press("Enter")
    page.wait_for_url("**/actions/resume?**")
    tab_to(page, text="确认恢复")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/channels?done=resume")
    assert page.locator(".banner.paused").count() == 0
