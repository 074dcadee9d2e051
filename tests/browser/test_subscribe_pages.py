"""The subscription center in real Chromium, end to end on one `govcast run` (embedded, sandboxes on):

A business follows the sign-up link of a portal policy page, signs up in the form and confirms by the emailed link
(read from a real SMTP server); another confirms by the SMS code (read from the SMS sandbox's `_inspect`). A policy
matching both is published: each receives it, the first sees it in its message center, sees an older matching
policy (with its interpretation) under "policies for me", changes its topics through its manage link and
unsubscribes. axe-core on every page (zero serious or critical violations); screenshots at desktop and phone width.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from typing import TYPE_CHECKING, Any

import pytest
import requests

from adapters.common.wording import subject
from govcast.samples import DEMO_DEPARTMENT, sample_interpretation, sample_policy
from govcast.sinks import SmtpSink
from tests.browser_support import FOCUSABLE, PHONE, assert_keyboard_reaches_all, axe, horizontal_overflow, screenshot
from tests.conftest import Client, GovcastProcess, launch
from tests.push_support import credit_code

if TYPE_CHECKING:
    from playwright.sync_api import Page

BEIJING = dt.timezone(dt.timedelta(hours=8))
TARGET = {"regions": ["历下区"], "topics": ["人才"]}
EMAIL_BIZ, SMS_BIZ = 701, 702
MOBILE = "13955550702"


@dataclass
class Center:
    system: GovcastProcess
    smtp: SmtpSink
    department: Client
    older_policy: str  # title of a matching policy published before anyone signed up
    older_policy_url: str  # its portal page


def wait_for_push(department: Client, pub_id: str, want_delivered: int) -> dict[str, Any]:
    deadline, body = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        body = department.get(pub_id)
        campaign = body.get("campaign") or {}
        if campaign.get("delivered", 0) >= want_delivered and body["deliveries"].get("push", {}).get("status") == "delivered":
            return body
        time.sleep(0.3)
    raise AssertionError(f"push never finished: {body.get('campaign')} {body.get('deliveries')}")


def publish(department: Client, title: str, **changes: Any) -> str:
    response = department.submit(sample_policy(title=title, channels=["portal", "push"], **{"targeting": TARGET} | changes))
    assert response.status_code == 202, response.text
    pub_id = str(response.json()["id"])
    department.wait_for(pub_id, "delivered", "partially_delivered", timeout=120)
    return pub_id


@pytest.fixture(scope="module")
def center(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    smtp = SmtpSink().start()
    office_hours = dt.datetime.now(BEIJING).replace(hour=10, minute=0, second=0, microsecond=0).isoformat()
    env = {"GOVCAST_CHANNELS": "portal,push", "GOVCAST_PUSH_SMTP_HOST": "127.0.0.1", "GOVCAST_PUSH_SMTP_PORT": str(smtp.port),
           "GOVCAST_CLOCK_START": office_hours, "GOVCAST_PUSH_SMS_RECEIPT_CHECK_SECONDS": "1"}
    system = launch(request, "embedded", tmp_path_factory.mktemp("subscribe-browser") / "data", env=env)
    try:
        department = Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        older = "关于支持历下区企业引进高层次人才的若干措施"
        policy_id = publish(department, older)
        explained = department.submit(sample_interpretation(policy_id, title="《关于支持历下区企业引进高层次人才的若干措施》解读"))
        assert explained.status_code == 202, explained.text
        department.wait_for(explained.json()["id"], "delivered", "partially_delivered", timeout=120)
        yield Center(system, smtp, department, older, department.get(policy_id)["deliveries"]["portal"]["url"])
    finally:
        system.stop()
        smtp.stop()


def check(page: Page, name: str) -> None:
    """Every page: no serious or critical axe violations, no sideways scrolling on a phone (also in 大字模式), screenshots."""
    assert not axe(page), name
    screenshot(page, f"subscribe-{name}")
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) == [], name
    page.evaluate("document.documentElement.classList.add('a11y-large')")  # 大字模式 on a phone too
    assert horizontal_overflow(page) == [], f"{name} (大字模式)"
    page.evaluate("document.documentElement.classList.remove('a11y-large')")
    if size:
        page.set_viewport_size(size)


def fill_signup(page: Page, center: Center, n: int, *, channel: str, email: str = "", mobile: str = "") -> None:
    page.goto(f"{center.system.url}/subscribe")
    page.get_by_label("统一社会信用代码").fill(credit_code(n))
    page.get_by_label("企业名称").fill(f"济南订阅测试企业{n}有限公司")
    page.get_by_label("注册地").select_option("历下区")
    page.get_by_label("所属行业（国民经济行业分类 GB/T 4754）").fill("软件")
    page.get_by_role("button", name="查找行业").click()  # the no-JS picker: matches come back as a select
    page.get_by_label("所属行业（国民经济行业分类 GB/T 4754）").select_option("I65")
    page.get_by_label("小型").check()
    page.get_by_label("人才", exact=True).check()
    page.get_by_label("电子邮件").set_checked(channel == "email")
    page.get_by_label("短信").set_checked(channel == "sms")
    page.get_by_label("电子邮箱").fill(email)
    page.get_by_label("手机号").fill(mobile)
    page.get_by_label("我已阅读").check()


def mail_bodies(center: Center, address: str) -> list[str]:
    return [message_from_bytes(m["raw"], policy=policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for m in center.smtp.store.messages if address in m["to"]]


def sms_to(center: Center, phone: str) -> list[dict[str, Any]]:
    messages = requests.get(f"{center.system.url}/sandbox/sms/_inspect", timeout=10).json()["messages"]
    return [m for m in messages if m["phone"] == phone]


def test_sign_up_confirm_receive_read_change_and_unsubscribe(page: Page, center: Center) -> None:
    url = center.system.url
    email = f"owner{EMAIL_BIZ}@example.test"

    # 0. The business finds the sign-up on a policy page of the portal.
    page.goto(center.older_policy_url)
    callout = page.locator("aside.subscribe-callout")
    callout.get_by_role("link", name="订阅惠企政策推送").click()
    page.wait_for_url(f"{url}/subscribe")
    services = page.get_by_role("navigation", name="企业服务")
    assert services.get_by_role("link", name="订阅惠企政策").get_attribute("aria-current") == "page"
    columns = page.get_by_role("navigation", name="栏目导航")
    assert columns.get_by_role("link", name="政策文件库").is_visible(), "the portal's own header, not a copy"

    # 1. Sign-up form, with a mistake first: the wrong check digit is named next to the field.
    fill_signup(page, center, EMAIL_BIZ, channel="email", email=email)
    check(page, "signup-form")
    bad = credit_code(EMAIL_BIZ)[:-1] + ("0" if credit_code(EMAIL_BIZ)[-1] != "0" else "1")
    page.get_by_label("统一社会信用代码").fill(bad)
    page.get_by_role("button", name="提交订阅").click()
    assert "校验位（第18位）不正确" in page.locator(".error-summary").inner_text()
    check(page, "signup-error")
    page.get_by_label("统一社会信用代码").fill(credit_code(EMAIL_BIZ))
    page.get_by_label("我已阅读").check()
    page.get_by_role("button", name="提交订阅").click()
    assert "确认邮件已发送到 o***@example.test" in page.locator("main").inner_text()
    check(page, "signup-sent")

    # 2. Double opt-in by the emailed link: the link opens a page; its button confirms.
    link = re.search(r"(http://\S+/subscribe/confirm/\S+)", mail_bodies(center, email)[0])
    assert link
    page.goto(link.group(1))
    check(page, "confirm-link")
    page.get_by_role("button", name="确认订阅").click()
    assert "订阅已确认" in page.locator("main").inner_text()
    check(page, "confirmed")
    manage = page.get_by_role("link", name="管理我的订阅").last.get_attribute("href")
    assert manage and "/subscribe/m/" in manage

    # 3. A second business confirms by the SMS code from the sandbox.
    fill_signup(page, center, SMS_BIZ, channel="sms", mobile=MOBILE)
    page.get_by_role("button", name="提交订阅").click()
    assert "验证码已发送到 139****0702" in page.locator("main").inner_text()
    page.get_by_role("link", name="输入短信验证码").click()
    check(page, "sms-code")
    code = sms_to(center, MOBILE)[-1]["params"]["code"]
    page.get_by_label("6位验证码").fill(code)
    page.get_by_role("button", name="确认").click()
    assert "订阅已确认" in page.locator("main").inner_text()

    # 4. The next matching policy reaches both, each on its confirmed channel.
    title = "关于2026年度历下区人才住房补贴申报的通知"
    body = wait_for_push(center.department, publish(center.department, title), want_delivered=2)
    assert body["campaign"]["matched"] == 2, body["campaign"]
    assert any(title in b for b in mail_bodies(center, email))
    assert any(m["params"].get("title") == subject(title) for m in sms_to(center, MOBILE))  # the SMS names it short

    # 5. Message center: the pushed policy, why, its validity, its portal page.
    page.goto(manage)
    check(page, "manage")
    page.get_by_role("link", name="消息中心").click()
    card = page.locator(".card").first
    assert title in card.inner_text() and "现行有效" in card.inner_text() and "推送原因" in card.inner_text()
    assert center.older_policy not in page.locator("main").inner_text(), "the older policy was not pushed"
    check(page, "messages")
    card.get_by_role("link", name=title).click()
    assert page.locator("h1").inner_text().startswith(title[:8])

    # 6. Policies for me: the older matching policy, with its interpretation.
    page.goto(manage + "/policies")
    main = page.locator("main").inner_text()
    assert center.older_policy in main and title in main and "解读" in main
    check(page, "policies")

    # 7. Change topics through the manage link: confirmed on the page and recorded.
    page.goto(manage)
    topics = page.locator("#f-topics")
    topics.get_by_label("人才", exact=True).uncheck()
    topics.get_by_label("融资支持").check()
    page.get_by_role("button", name="保存主题").click()
    assert "关注的政策主题已保存" in page.locator("#saved").inner_text()
    assert "关注主题改为：融资支持" in page.locator(".history").inner_text()
    check(page, "manage-saved")

    # 8. Unsubscribe from everything; the next matching policy does not come.
    page.get_by_role("button", name="退订全部推送").click()
    assert "已退订" in page.locator("#saved").inner_text()
    assert "已退订全部推送" in page.locator("main").inner_text()
    check(page, "unsubscribed")
    before = len(mail_bodies(center, email))
    wait_for_push(center.department, publish(center.department, "关于历下区融资支持人才企业的通知",
                                              targeting={"regions": ["历下区"], "topics": ["融资支持", "人才"]}), 1)
    assert len(mail_bodies(center, email)) == before

    # 9. The remaining pages pass axe too.
    for path, name in (("/subscribe/manage", "manage-request"), ("/subscribe/privacy", "privacy")):
        page.goto(url + path)
        check(page, name)


def test_the_pages_the_journey_does_not_pass_are_accessible_too(page: Page, center: Center) -> None:
    """A reused link, a sign-up for a registered credit code, an empty message center, a form with errors, a wrong
    SMS code, a forged manage link and the deletion: axe, phone fit and screenshots, like the journey's pages."""
    n, email = 703, "owner703@example.test"
    fill_signup(page, center, n, channel="email", email=email)
    page.get_by_role("button", name="提交订阅").click()
    link = re.search(r"(http://\S+/subscribe/confirm/\S+)", mail_bodies(center, email)[-1])
    assert link
    page.goto(link.group(1))
    page.get_by_role("button", name="确认订阅").click()
    manage = page.get_by_role("link", name="管理我的订阅").last.get_attribute("href")
    assert manage

    page.goto(link.group(1))
    page.get_by_role("button", name="确认订阅").click()
    assert "已经使用过" in page.locator("main").inner_text()
    check(page, "link-used")

    fill_signup(page, center, n, channel="email", email="someone-else@example.test")
    page.get_by_role("button", name="提交订阅").click()
    assert "已经登记过" in page.locator("main").inner_text() and "o***@example.test" in page.locator("main").inner_text()
    check(page, "signup-existing")

    page.goto(manage + "/messages")
    assert "还没有推送给贵企业的政策" in page.locator("main").inner_text()
    check(page, "messages-empty")

    page.goto(manage)
    page.get_by_label("免打扰时段", exact=False).fill("9pm")
    page.get_by_role("button", name="保存", exact=True).click()
    assert "21:00-08:00" in page.locator(".error-summary").inner_text()
    check(page, "manage-error")

    page.goto(f"{center.system.url}/subscribe/manage")
    page.get_by_label("统一社会信用代码").fill(credit_code(n))
    page.get_by_label("已验证的手机（短信验证码）").check()
    page.get_by_role("button", name="发送").click()
    page.get_by_label("6位验证码").fill("000000")
    page.get_by_role("button", name="确认").click()
    assert "验证码不正确" in page.locator("main").inner_text()
    check(page, "sms-code-wrong")

    page.goto(f"{center.system.url}/subscribe/m/forged.link")
    assert "此管理链接无效" in page.locator("main").inner_text()
    check(page, "link-invalid")

    page.goto(manage)
    page.get_by_label("我确认删除本企业的订阅登记").check()
    page.get_by_role("button", name="删除登记").click()
    assert "已删除" in page.locator("main").inner_text()
    check(page, "deleted")


@pytest.mark.parametrize("path", ["/subscribe", "/subscribe/manage"])
def test_forms_work_by_keyboard_alone_with_a_visible_focus_ring(page: Page, center: Center, path: str) -> None:
    """Tab reaches every control (a radio group is one stop: arrow keys choose within it, as browsers do)."""
    page.goto(center.system.url + path)
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # optional fields shown
    stops = assert_keyboard_reaches_all(page, FOCUSABLE.replace("input:not([disabled])", "input:not([disabled]):not([type=radio])"))
    assert stops[0].text == "跳到主要内容"
    radios = page.locator("input[type=radio]")
    if radios.count():
        first = radios.first
        first.focus()
        page.keyboard.press("ArrowRight")
        assert radios.nth(1).is_checked(), "arrow keys move within the radio group"
