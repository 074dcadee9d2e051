"""The subscription pages over the real app, a real SQLite store and a real SMTP server (aiosmtpd): what a
business sees when it types a wrong code, confirms by the emailed link, reuses or outlives a link, runs out of
code attempts, tries to take over another business's credit code, or holds another business's links."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcast.sinks import SmtpSink
from persistence import audit
from persistence.selfservice import SelfService
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from processors.embedded.log import SqliteLog
from producers.api import create_app
from producers.subscribe.center import Center
from producers.subscribe.notify import Notifier
from producers.subscribe.state import center_of
from schemas.subscriber import SubscriberIn
from settings import Settings
from tests.push_support import credit_code


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, smtp: SmtpSink, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, channel_env={"push": {"smtp_sink_port": smtp.port}}, public_url="http://gov.test")
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    app = create_app(settings, store, SqliteLog(settings.log_path))
    subs = SubscriberStore(store.engine)
    app.state.subscribers = subs
    app.state.subscribe_center = Center(subs, SelfService(subs), Notifier.from_settings(settings), settings.base_url, clock)
    with TestClient(app) as c:
        yield c
    store.close()


def form(n: int, **changes: Any) -> dict[str, Any]:
    return {"credit_code": credit_code(n), "name": f"济南测试企业{n}有限公司", "region": "历下区",
            "industry": "C39 计算机、通信和其他电子设备制造业", "scale": "小型", "qualifications": ["高新技术企业"],
            "topics": ["人才"], "channels": ["email"], "email": f"owner{n}@example.test", "consent": "yes", **changes}


def field_errors(text: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="field-error"[^>]*><span[^>]*>错误：</span>(.*?)</p>', text)]


def mails_to(smtp: SmtpSink, address: str) -> list[str]:
    out = []
    for item in smtp.store.messages:
        if address in item["to"]:
            msg = message_from_bytes(item["raw"], policy=policy.default)
            out.append(msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return out


def link_in(body: str, kind: str) -> str:
    url = re.search(rf"http://gov\.test(/subscribe/{kind}/\S+)", body)
    assert url, body
    return url.group(1)


def sign_up(client: TestClient, smtp: SmtpSink, n: int, **changes: Any) -> str:
    """Sign business `n` up and confirm by its emailed link; returns its manage path."""
    response = client.post("/subscribe", data=form(n, **changes))
    assert response.status_code == 202, field_errors(response.text)
    confirmed = client.post(link_in(mails_to(smtp, changes.get("email", f"owner{n}@example.test"))[-1], "confirm"))
    assert "订阅已确认" in confirmed.text
    return manage_path(confirmed.text)


def manage_path(text: str) -> str:
    found = re.search(r'href="http://gov\.test(/subscribe/m/[^"]+)"', text)
    assert found, text
    return found.group(1)


def subscriber(client: TestClient, n: int) -> Any:
    return client.app.state.subscribers.get(credit_code(n))  # type: ignore[attr-defined]


@pytest.mark.parametrize(("code", "message"), [
    (credit_code(1)[:-1] + ("0" if credit_code(1)[-1] != "0" else "1"), "校验位（第18位）不正确"),
    (credit_code(1)[:17], "应为18位，您填写了17位"),
    ("91370100000000I00X", "不含字符 I"),
])
def test_a_wrong_credit_code_is_named_next_to_the_field_and_nothing_is_sent(client: TestClient, smtp: SmtpSink,
                                                                            code: str, message: str) -> None:
    response = client.post("/subscribe", data=form(1, credit_code=code))
    assert response.status_code == 422
    assert any(message in e for e in field_errors(response.text)), field_errors(response.text)
    assert 'id="f-credit_code"' in response.text and 'aria-invalid="true"' in response.text
    assert f'value="{code}"' in response.text, "what was typed comes back to be corrected"
    assert smtp.store.messages == [] and subscriber(client, 1) is None


def test_industry_is_picked_by_name_without_javascript(client: TestClient) -> None:
    found = client.post("/subscribe", data=form(2, industry="软件", action="find_industry"))
    assert found.status_code == 200
    assert '<option value="I65">I65 软件和信息技术服务业</option>' in found.text
    assert f'value="{credit_code(2)}"' in found.text, "the rest of the form is kept"
    ambiguous = client.post("/subscribe", data=form(2, industry="制造"))
    assert ambiguous.status_code == 422 and "请从列表中选择一个行业（可按名称查找）。" in field_errors(ambiguous.text)


def test_double_opt_in_by_email_link_and_the_link_works_once(client: TestClient, smtp: SmtpSink) -> None:
    pending = client.post("/subscribe", data=form(3))
    assert pending.status_code == 202 and "o***@example.test" in pending.text
    assert subscriber(client, 3) is None, "nothing is stored in the directory (and nothing pushed) before confirming"
    link = link_in(mails_to(smtp, "owner3@example.test")[0], "confirm")
    assert client.get(link).status_code == 200 and subscriber(client, 3) is None, "opening the link changes nothing"
    done = client.post(link)
    assert done.status_code == 200 and "订阅已确认" in done.text
    sub = subscriber(client, 3)
    assert sub.origin == "self" and sub.verified == ["email"] and [c.value for c in sub.reachable_channels()] == ["email"]
    [entry] = audit.entries(client.app.state.store.engine, audit.AuditFilter(target=sub.credit_code))  # type: ignore[attr-defined]
    assert (entry["action"], entry["actor"]["kind"]) == ("subscriber.signup", "business")
    assert "email" in entry["detail"]["fields"], "the trail names what changed"
    assert "owner3@example.test" not in str(entry), "but keeps no contact details (a deleted record must leave none)"
    reused = client.post(link)
    assert reused.status_code == 410 and "已经使用过" in reused.text


def test_links_and_manage_links_expire(client: TestClient, smtp: SmtpSink, clock: Clock) -> None:
    client.post("/subscribe", data=form(4))
    link = link_in(mails_to(smtp, "owner4@example.test")[0], "confirm")
    clock.now += dt.timedelta(hours=24, seconds=1)
    expired = client.post(link)
    assert expired.status_code == 410 and "已过期" in expired.text and subscriber(client, 4) is None

    manage = sign_up(client, smtp, 5)
    assert client.get(manage).status_code == 200
    clock.now += dt.timedelta(hours=24, seconds=1)
    late = client.get(manage)
    assert late.status_code == 410 and "已过期" in late.text and "济南测试企业5" not in late.text
    assert client.post(f"{manage}/topics", data={"topics": ["消费"]}).status_code == 410
    assert subscriber(client, 5).topics == ["人才"]


def test_a_code_dies_after_five_wrong_tries(client: TestClient) -> None:
    center: Center = center_of(client)  # type: ignore[arg-type]
    client.app.state.subscribers.upsert(SubscriberIn.model_validate({  # type: ignore[attr-defined]
        "credit_code": credit_code(6), "name": "企业6", "mobile": "13900000006", "channels": ["sms"]}))
    ref, code = center.selfservice.begin(credit_code(6), "manage", "sms")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    lefts = [re.search(r"还可以再试(\d)次", client.post(f"/subscribe/verify/{ref}", data={"code": wrong}).text) for _ in range(4)]
    assert [int(m.group(1)) for m in lefts if m] == [4, 3, 2, 1]
    fifth = client.post(f"/subscribe/verify/{ref}", data={"code": wrong})
    assert fifth.status_code == 410 and "错误次数过多" in fifth.text
    right = client.post(f"/subscribe/verify/{ref}", data={"code": code}, follow_redirects=False)
    assert right.status_code == 410 and "location" not in right.headers, "the right code no longer opens anything"
    assert client.post(f"/subscribe/verify/{ref}", data={"code": "12"}).status_code == 422


def test_sends_are_rate_limited_per_address(client: TestClient, smtp: SmtpSink) -> None:
    for _ in range(5):
        assert "确认邮件已发送" in client.post("/subscribe", data=form(7)).text
    sixth = client.post("/subscribe", data=form(7))
    assert "过于频繁" in sixth.text and len(mails_to(smtp, "owner7@example.test")) == 5


def test_sends_are_rate_limited_per_client_address(client: TestClient, smtp: SmtpSink) -> None:
    """Twenty confirmations an hour from one client, whatever addresses it types; then the page says so."""
    for n in range(30, 50):
        assert "确认邮件已发送" in client.post("/subscribe", data=form(n)).text
    refused = client.post("/subscribe", data=form(50))
    assert "过于频繁" in refused.text and mails_to(smtp, "owner50@example.test") == []


def test_an_existing_credit_code_cannot_be_taken_over(client: TestClient, smtp: SmtpSink) -> None:
    sign_up(client, smtp, 8)
    attempt = client.post("/subscribe", data=form(8, email="attacker@example.test", name="冒名企业", topics=["消费"]))
    assert attempt.status_code == 202 and "已经登记过" in attempt.text and "尚未生效" in attempt.text
    assert "o***@example.test" in attempt.text and "owner8@example.test" not in attempt.text
    assert mails_to(smtp, "attacker@example.test") == [], "the new address gets nothing it could confirm"
    assert subscriber(client, 8).email == "owner8@example.test" and subscriber(client, 8).name == "济南测试企业8有限公司"
    # The real owner gets the request on its verified address; only its confirmation would apply it.
    to_owner = mails_to(smtp, "owner8@example.test")[-1]
    assert "更改" in to_owner and "如非本人操作" in to_owner
    # A sign-up link of the same credit code confirmed after someone else registered it does not apply either.
    client.post("/subscribe", data=form(9, email="first@example.test"))
    client.post("/subscribe", data=form(9, email="second@example.test"))
    first = link_in(mails_to(smtp, "first@example.test")[0], "confirm")
    second = link_in(mails_to(smtp, "second@example.test")[0], "confirm")
    assert "订阅已确认" in client.post(first).text
    assert "已由他人登记" in client.post(second).text
    assert subscriber(client, 9).email == "first@example.test"


def test_another_business_is_never_visible(client: TestClient, smtp: SmtpSink) -> None:
    mine, theirs = sign_up(client, smtp, 10), sign_up(client, smtp, 11, email="secret11@example.test", mobile="13911112222")
    page = client.get(mine).text
    assert "济南测试企业10有限公司" in page and "济南测试企业11" not in page and credit_code(11) not in page
    token = mine.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    other_payload = theirs.rsplit("/", 1)[1].split(".")[0]
    for forged in (f"{other_payload}.{mac}", f"{payload}x.{mac}", f"{payload}.", "nothing"):
        response = client.get(f"/subscribe/m/{forged}")
        assert response.status_code == 404 and "济南测试企业11" not in response.text
        assert client.post(f"/subscribe/m/{forged}/delete", data={"confirm_delete": "yes"}).status_code == 404
    assert subscriber(client, 11) is not None
    # Asking for another business's manage link sends it only to that business, and says nothing about it.
    asked = client.post("/subscribe/manage", data={"credit_code": credit_code(11), "via": "email"})
    unknown = client.post("/subscribe/manage", data={"credit_code": credit_code(99), "via": "email"})
    assert asked.status_code == unknown.status_code == 202
    assert "secret11" not in asked.text and "13911112222" not in asked.text
    assert re.sub(r"\s+", "", asked.text) == re.sub(r"\s+", "", unknown.text), "registered or not: the same answer"
    assert link_in(mails_to(smtp, "secret11@example.test")[-1], "m").startswith("/subscribe/m/")


def test_contacts_are_masked_except_in_the_owners_edit_form(client: TestClient, smtp: SmtpSink) -> None:
    manage = sign_up(client, smtp, 12, mobile="13912345678")
    page = client.get(manage).text
    assert "o***@example.test" in page and "139****5678" in page
    status_table = page.split('id="h-status"')[1].split("</section>")[0]
    assert "owner12@example.test" not in status_table and "13912345678" not in status_table
    assert 'value="owner12@example.test"' in page, "the owner's edit form holds the address to edit"
    sent = client.post("/subscribe", data=form(12, email="x@example.test"))
    assert "owner12@example.test" not in sent.text and "13912345678" not in sent.text


def test_operators_see_self_registered_businesses_with_their_verification_state(client: TestClient, smtp: SmtpSink) -> None:
    from producers.auth import new_token

    sign_up(client, smtp, 13)
    client.app.state.subscribers.upsert_many([SubscriberIn.model_validate(  # type: ignore[attr-defined]
        {"credit_code": credit_code(14), "name": "导入企业", "email": "i@example.test", "channels": ["email"]})],
        origin="imported")
    token = new_token(client.app.state.store, "operator", "值班员")  # type: ignore[attr-defined]
    items = client.get("/v1/subscribers", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert {i["credit_code"]: i["verification"] for i in items} == {credit_code(13): "self: email verified",
                                                                    credit_code(14): "imported"}


def test_a_new_email_carries_pushes_only_after_its_own_confirmation(client: TestClient, smtp: SmtpSink) -> None:
    manage = sign_up(client, smtp, 15)
    answer = client.post(f"{manage}/contacts", data={"channels": ["email"], "email": "new15@example.test"})
    assert answer.status_code == 200 and "n***@example.test" in answer.text
    sub = subscriber(client, 15)
    assert sub.email == "new15@example.test" and sub.verified == [] and sub.reachable_channels() == []
    link = link_in(mails_to(smtp, "new15@example.test")[0], "confirm")
    assert "邮件地址已确认" in client.post(link).text
    assert [c.value for c in subscriber(client, 15).reachable_channels()] == ["email"]
    history = client.get(manage).text.split('id="h-history"')[1]
    assert "接收方式与联系方式已更新" in history and "new15@example.test" not in history


def test_manage_changes_are_validated_recorded_and_deletion_forgets_the_business(client: TestClient, smtp: SmtpSink) -> None:
    manage = sign_up(client, smtp, 16)
    bad = client.post(f"{manage}/pace", data={"quiet_hours": "9pm", "daily_cap": "3"})
    assert bad.status_code == 422 and "免打扰时段格式如 21:00-08:00。" in field_errors(bad.text)
    ok = client.post(f"{manage}/pace", data={"quiet_hours": "22:00-07:30", "daily_cap": "3"}, follow_redirects=False)
    assert ok.status_code == 303 and (subscriber(client, 16).quiet_hours, subscriber(client, 16).daily_cap) == ("22:00-07:30", 3)
    client.post(f"{manage}/pause", data={"paused": "yes"})
    assert subscriber(client, 16).paused and subscriber(client, 16).reachable_channels() == []
    client.post(f"{manage}/unsubscribe", data={"channel": "email", "undo": "no"})
    assert subscriber(client, 16).unsubscribed == ["email"]
    history = client.get(manage).text.split('id="h-history"')[1]
    assert all(t in history for t in ("免打扰时段与每日上限已更新", "暂停全部推送", "退订邮件"))
    refused = client.post(f"{manage}/delete", data={})
    assert refused.status_code == 422 and subscriber(client, 16) is not None
    gone = client.post(f"{manage}/delete", data={"confirm_delete": "yes"})
    assert "已删除" in gone.text and subscriber(client, 16) is None
    assert client.get(manage).status_code == 404


def test_after_unsubscribing_everything_no_channel_still_says_it_is_receiving(client: TestClient, smtp: SmtpSink) -> None:
    manage = sign_up(client, smtp, 22)

    def unsubscribe_section() -> list[str]:
        section = client.get(manage).text.split('id="h-unsub"')[1].split("</section>")[0]
        return [html.unescape(t) for t in re.findall(r"<li><span>(.*?)</span>", section)]

    assert unsubscribe_section() == ["邮件：接收中", "全部推送：接收中"]
    client.post(f"{manage}/unsubscribe", data={"channel": "all", "undo": "no"})
    assert unsubscribe_section() == ["邮件：随全部推送停止", "全部推送：已退订"]
    client.post(f"{manage}/unsubscribe", data={"channel": "all", "undo": "yes"})
    client.post(f"{manage}/pause", data={"paused": "yes"})
    assert unsubscribe_section() == ["邮件：已暂停", "全部推送：已暂停"]


def test_the_pages_wear_the_portals_own_header_and_footer(client: TestClient) -> None:
    """One site: the portal's header (name, every column, 政策文件库, search, the sign-up) and footer (网站标识码,
    备案, 网站地图 …) on every subscription page, plus this section's own entries; nothing kept twice to drift."""
    from adapters.portal.config import portal_config
    from adapters.portal.render import home_sections, render_home
    from tests.portal_support import parse_html

    site = portal_config(client.app.state.settings).site_view()  # type: ignore[attr-defined]
    portal = parse_html(render_home(home_sections([], site), site))
    portal_header, portal_footer = portal.find("header").links(), portal.find("footer").links()
    assert ("http://gov.test/subscribe", "订阅惠企政策") in portal_header, "the portal leads to the sign-up"
    for path in ("/subscribe", "/subscribe/manage", "/subscribe/privacy"):
        page = parse_html(client.get(path).text)
        header = page.find("header", class_="site-header")
        assert header.find("a", class_="site-name").attrs["href"] == site.home_url
        own = ("/subscribe/manage", "管理我的订阅")
        assert own in header.links() and [link for link in header.links() if link != own] == portal_header, path
        assert header.find("nav", class_="site-nav").links() == portal.find("nav", class_="site-nav").links()
        footer = page.find("footer")
        assert footer.links() == [*portal_footer, ("/subscribe/privacy", "个人信息处理说明")], path
        assert f"网站标识码：{site.id_code}" in footer.text
    current = parse_html(client.get("/subscribe").text).find("header").find("a", aria_current="page")
    assert current.text == "订阅惠企政策"


def test_an_sms_code_opens_the_manage_page_once_and_not_after_ten_minutes(client: TestClient, clock: Clock) -> None:
    center: Center = center_of(client)  # type: ignore[arg-type]
    client.app.state.subscribers.upsert(SubscriberIn.model_validate({  # type: ignore[attr-defined]
        "credit_code": credit_code(17), "name": "企业17", "mobile": "13900000017", "channels": ["sms"]}))
    ref, code = center.selfservice.begin(credit_code(17), "manage", "sms", now=clock())
    opened = client.post(f"/subscribe/verify/{ref}", data={"code": code}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"].startswith("http://gov.test/subscribe/m/")
    again = client.post(f"/subscribe/verify/{ref}", data={"code": code}, follow_redirects=False)
    assert again.status_code == 410 and "已经使用过" in again.text
    late_ref, late_code = center.selfservice.begin(credit_code(17), "manage", "sms", now=clock())
    clock.now += dt.timedelta(minutes=10)
    late = client.post(f"/subscribe/verify/{late_ref}", data={"code": late_code}, follow_redirects=False)
    assert late.status_code == 410 and "已过期" in late.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data", "https://user:pw@example.com/h"])
def test_webhook_addresses_into_the_servers_network_are_refused(client: TestClient, smtp: SmtpSink, url: str) -> None:
    secret = "whsec_" + "A" * 32
    refused = client.post("/subscribe", data=form(18, channels=["webhook"], webhook_url=url, webhook_secret=secret))
    assert refused.status_code == 422 and any("Webhook 地址不能使用" in e for e in field_errors(refused.text))
    assert mails_to(smtp, "owner18@example.test") == []
    manage = sign_up(client, smtp, 19)
    changed = client.post(f"{manage}/contacts", data={"channels": ["webhook", "email"], "email": "owner19@example.test",
                                                        "webhook_url": url, "webhook_secret": secret})
    assert changed.status_code == 422 and subscriber(client, 19).webhook_url is None


def test_business_changes_are_on_the_audit_trail_without_contact_details(client: TestClient, smtp: SmtpSink) -> None:
    from sqlalchemy import select

    from persistence import audit
    from persistence.tables import audit_log

    manage = sign_up(client, smtp, 20, mobile="13920202020")
    client.post(f"{manage}/topics", data={"topics": ["消费"]})
    client.post(f"{manage}/delete", data={"confirm_delete": "yes"})
    engine = client.app.state.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.target == credit_code(20)).order_by(audit_log.c.seq)).all()
    assert [(r.action, r.actor_kind, r.actor_id) for r in rows] == [
        ("subscriber.signup", "business", f"business:{credit_code(20)}"),
        ("subscriber.self", "business", f"business:{credit_code(20)}"),
        ("subscriber.delete", "business", f"business:{credit_code(20)}")]
    assert '"topics"' in rows[1].detail and rows[1].client == "testclient"
    trail = " ".join(r.detail for r in rows)
    assert "owner20" not in trail and "13920202020" not in trail, "the trail outlives a deletion: no contacts in it"
    assert audit.verify(engine).intact


def test_with_the_broker_down_a_change_is_refused_whole(client: TestClient, smtp: SmtpSink) -> None:
    """Kafka mode: a directory change is produced to its topic before it commits; no broker, no change."""
    from processors.bus import BusUnavailable

    manage = sign_up(client, smtp, 21)

    def broker_down(changes: object) -> None:
        raise BusUnavailable("simulated outage")

    client.app.state.subscribers.on_change = broker_down  # type: ignore[attr-defined]
    answer = client.post(f"{manage}/topics", data={"topics": ["消费"]})
    assert answer.status_code == 503 and "没有生效" in answer.text
    client.app.state.subscribers.on_change = None  # type: ignore[attr-defined]
    assert subscriber(client, 21).topics == ["人才"]
    assert "关注主题改为" not in client.get(manage).text.split('id="h-history"')[1]
