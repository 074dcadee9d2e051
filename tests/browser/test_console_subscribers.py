"""The console's 订阅企业 pages in real Chromium, on one `govcast run` (embedded, push with its SMS sandbox): an operator
finds a business by name, reads its channels (contacts masked), state and the policy just pushed to it, and pauses
and resumes it by keyboard alone. axe-core on every page, desktop and phone width, no sideways scrolling."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.browser_support import (
    DESKTOP,
    PHONE,
    assert_keyboard_reaches_all,
    axe,
    horizontal_overflow,
    screenshot,
    sign_in_by_keyboard,
    tab_to,
)
from tests.conftest import Client, GovcastProcess, launch
from tests.push_support import credit_code

if TYPE_CHECKING:
    from playwright.sync_api import Page

BEIJING = dt.timezone(dt.timedelta(hours=8))
MOBILE = "13955550731"
TITLE = "关于支持历下区专精特新企业稳岗就业的通知"
REASON = "企业来电：办公地址搬迁期间暂停接收"


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    office_hours = dt.datetime.now(BEIJING).replace(hour=10, minute=0, second=0, microsecond=0).isoformat()
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_CLOCK_START": office_hours,  # no quiet hours in the way
           "GOVCAST_PUSH_SMS_RECEIPT_CHECK_SECONDS": "1"}
    running = launch(request, "embedded", tmp_path_factory.mktemp("subscribers-browser") / "data", env=env)
    try:
        yield running
    finally:
        running.stop()


def add_subscriber(system: GovcastProcess, operator: str, n: int, name: str, **fields: Any) -> None:
    body = {"credit_code": credit_code(n), "name": name, "region": "历下区", "scale": "小型", **fields}
    answer = requests.post(f"{system.url}/v1/subscribers", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {operator}"})
    assert answer.status_code == 201, answer.text


def pushed(department: Client, pub_id: str) -> dict[str, Any]:
    deadline, body = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        body = department.get(pub_id)
        if (body.get("campaign") or {}).get("delivered", 0) >= 1:
            return body
        time.sleep(0.3)
    raise AssertionError(f"push never delivered: {body.get('campaign')} {body.get('deliveries')}")


def check(page: Page, name: str) -> None:
    """axe clean, screenshots at both widths, and no sideways scrolling on a phone."""
    assert not axe(page), page.url
    screenshot(page, name)
    page.set_viewport_size(PHONE)
    page.reload()
    assert horizontal_overflow(page) == [], page.url
    page.set_viewport_size(DESKTOP)
    page.reload()


def test_an_operator_finds_a_business_and_pauses_it_by_keyboard(page: Page, system: GovcastProcess) -> None:
    operator = system.token("operator", "值班员张敏")
    department = Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    code = credit_code(731)
    add_subscriber(system, operator, 731, "泉城精密制造有限公司", mobile=MOBILE, email="zhang.min@quancheng.example.com",
                   wechat_openid="oQcPrEcIsIoN0731xyzAbCdEf", channels=["sms"], topics=["稳岗就业"])
    add_subscriber(system, operator, 732, "趵突泉文旅发展有限公司", email="li@baotu.example.com", channels=["email"],
                   region="市中区")
    submitted = department.submit(sample_policy(title=TITLE, channels=["portal", "push"],
                                                targeting={"regions": ["历下区"], "topics": ["稳岗就业"]}))
    assert submitted.status_code == 202, submitted.text
    pub_id = submitted.json()["id"]
    pushed(department, pub_id)

    console = f"{system.url}/console"
    sign_in_by_keyboard(page, f"{console}/login", operator)
    page.wait_for_url(f"{console}/")
    tab_to(page, href="/console/subscribers")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console}/subscribers")
    listing = page.locator("main").inner_text()
    total = requests.get(f"{system.url}/v1/subscribers", headers={"Authorization": f"Bearer {operator}"},
                         timeout=10).json()["total"]  # ours and the demo's
    assert "泉城精密制造有限公司" in listing and "趵突泉文旅发展有限公司" in listing and f"共 {total} 家企业" in listing
    check(page, "console-subscribers")

    tab_to(page, element_id="s-q")  # the search field: a part of the name, then Enter
    page.keyboard.type("精密")
    page.keyboard.press("Enter")
    page.wait_for_url("**/subscribers?q=*")
    found = page.locator("main").inner_text()
    assert "泉城精密制造有限公司" in found and "趵突泉文旅发展有限公司" not in found

    tab_to(page, href=f"/console/subscribers/{code}")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subscribers/{code}")
    detail = page.locator("main").inner_text()
    assert "139****0731" in detail and "z***@quancheng.example.com" in detail and "oQcP…dEf" in detail
    assert MOBILE not in page.content() and "zhang.min@" not in page.content()
    assert "推送中" in detail and "操作员录入" in detail
    pushes = page.locator("table.pushes tbody").inner_text()
    assert TITLE in pushes and "短信" in pushes and "已送达" in pushes
    check(page, "console-subscriber")
    assert_keyboard_reaches_all(page)

    tab_to(page, href=f"/console/subscribers/{code}/pause")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subscribers/{code}/pause")
    check(page, "console-subscriber-pause")
    tab_to(page, element_id="reason")
    page.keyboard.type(REASON)
    tab_to(page, text="确认暂停")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subscribers/{code}?done=subscriber-pause")
    assert "已暂停对这家企业的全部推送" in page.locator("#flash").inner_text()
    assert page.locator("#standing").inner_text() == "已暂停"
    assert not axe(page), "paused subscriber page"
    record = requests.get(f"{system.url}/v1/subscribers/{code}", headers={"Authorization": f"Bearer {operator}"},
                          timeout=10).json()
    assert record["paused"] is True and record["mobile"] == "139****0731"
    trail = requests.get(f"{system.url}/v1/audit", params={"target": code}, timeout=10,
                         headers={"Authorization": f"Bearer {operator}"}).json()["items"]
    assert trail[0]["action"] == "subscriber.pause" and trail[0]["detail"]["reason"] == REASON
    assert trail[0]["actor"]["name"] == "值班员张敏"

    tab_to(page, href=f"/console/subscribers/{code}/resume")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subscribers/{code}/resume")
    tab_to(page, text="确认恢复")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/subscribers/{code}?done=subscriber-resume")
    assert page.locator("#standing").inner_text() == "推送中"
