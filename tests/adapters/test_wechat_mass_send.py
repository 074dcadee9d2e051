"""WeChat mass send (群发) over real HTTP: the sandbox's contract (once a day, ≤ 8 articles, clientmsgid dedup) and
the adapter gathering the day's due copies into one multi-article message (GOVCAST_WECHAT_MASS_SEND)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.base import AdapterServices
from adapters.wechat import sandbox_mass
from adapters.wechat.adapter import WechatAdapter
from adapters.wechat.config import wechat_config
from adapters.wechat.sandbox import WechatSandbox
from schemas import Action, Delivered, DeliveryTask, Pending
from settings import Settings
from tests.adapters.newmedia_support import Platforms, later, publication, wait_until

CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    server = Platforms(tmp_path).start()
    yield server
    server.stop()


class Clock:
    """The pipeline clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def mass_adapter(platforms: Platforms, clock: Clock) -> WechatAdapter:
    config = wechat_config(platforms.settings).model_copy(update={"mass_send": True, "mass_send_time": "18:00"})
    return WechatAdapter(config, AdapterServices(ledger=platforms.ledger, public_url=platforms.url, clock=clock))


def api(platforms: Platforms, adapter: WechatAdapter, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A raw call to the sandbox with a valid token (errcodes are answered, not raised)."""
    response = requests.post(f"{platforms.url}/sandbox/wechat{path}", json=body, timeout=10,
                             params={"access_token": adapter.api.token()})
    return response.json()  # type: ignore[no-any-return]


def settle(platforms: Platforms, adapter: WechatAdapter, task: DeliveryTask) -> Any:
    def done() -> Any:
        result = adapter.deliver(later(task, checks=task.checks + 1))
        return result if not isinstance(result, Pending) else None
    return wait_until(done)


def test_sandbox_mass_sends_once_a_day_up_to_eight_articles(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    task = platforms.task("wechat", publication())
    article = adapter.article(task, {})  # the cover uploaded as a thumb
    assert api(platforms, adapter, "/cgi-bin/draft/add", {"articles": [article] * 9})["errcode"] == 45008
    draft = api(platforms, adapter, "/cgi-bin/draft/add", {"articles": [article] * 8})["media_id"]
    send = {"filter": {"is_to_all": True}, "mpnews": {"media_id": draft}, "msgtype": "mpnews", "clientmsgid": "a"}
    first = api(platforms, adapter, "/cgi-bin/message/mass/sendall", send)
    assert first["errcode"] == 0 and first["msg_id"]
    again = api(platforms, adapter, "/cgi-bin/message/mass/sendall", send)  # a retried request is not sent twice
    assert again["errcode"] == 45065 and again["msg_id"] == first["msg_id"]
    second = api(platforms, adapter, "/cgi-bin/message/mass/sendall", {**send, "clientmsgid": "b"})
    assert second["errcode"] == 45028  # the day's one mass send is used
    wait_until(lambda: api(platforms, adapter, "/cgi-bin/message/mass/get",
                           {"msg_id": first["msg_id"]})["msg_status"] == "SEND_SUCCESS")
    [sent] = platforms.inspect("wechat")["mass_sends"]
    assert sent["is_to_all"] and sent["articles"] == 8 and len(sent["urls"]) == 8
    assert requests.get(sent["urls"][7], timeout=10).status_code == 200  # each article has its page
    platforms.advance("wechat", 86400)  # the next quota day (Beijing time, sandbox clock)
    assert adapter.api.call("/cgi-bin/message/mass/sendall", {**send, "clientmsgid": "c"})["msg_id"]  # fresh token


def test_three_due_copies_go_out_as_one_message_with_three_articles(platforms: Platforms) -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 15, 0, tzinfo=CST))
    adapter = mass_adapter(platforms, clock)
    pubs = [publication(title=f"关于第{n}项惠企政策的通知") for n in (1, 2, 3)]
    tasks = [platforms.task("wechat", pub) for pub in pubs]
    for task in tasks:
        waiting = adapter.deliver(task)
        assert isinstance(waiting, Pending) and waiting.scheduled and "2026-12-03 18:00" in waiting.reason
        assert waiting.check_after == pytest.approx(3 * 3600 + 1)
    assert platforms.inspect("wechat")["mass_sends"] == []  # nothing goes out before the send time
    clock.at = dt.datetime(2026, 12, 3, 18, 0, 5, tzinfo=CST)
    results = [settle(platforms, adapter, task) for task in tasks]
    [sent] = platforms.inspect("wechat")["mass_sends"]
    assert sent["titles"] == [t.rendition["title"] for t in tasks]  # one message, the copies in order
    assert platforms.inspect("wechat")["publish_jobs"] == []  # no freepublish: mass send only
    for idx, result in enumerate(results, start=1):
        assert isinstance(result, Delivered) and result.url == sent["urls"][idx - 1]
        assert result.external_id == f"{sent['msg_id']}#{idx}" and f"article {idx} of 3" in (result.detail or "")
    assert [settle(platforms, adapter, task) for task in tasks] == results  # checked again: nothing sent again
    revision = platforms.task("wechat", pubs[0].model_copy(update={"version": 2}))
    again = adapter.deliver(revision)  # its 阅读原文 (the portal page) carries the revision
    assert isinstance(again, Delivered) and again.url == results[0].url and "already sent" in (again.detail or "")
    assert len(platforms.inspect("wechat")["mass_sends"]) == 1


def test_a_lost_sendall_answer_is_not_sent_twice(platforms: Platforms) -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 17, 0, tzinfo=CST))
    adapter = mass_adapter(platforms, clock)
    task = platforms.task("wechat", publication())
    assert isinstance(adapter.deliver(task), Pending)
    clock.at = dt.datetime(2026, 12, 3, 18, 1, tzinfo=CST)
    first = settle(platforms, adapter, task)
    assert isinstance(first, Delivered)
    # As if the worker died after sendall and before recording its answer: the batch still says "sending".
    platforms.ledger.put("wechat", "mass:2026-12-03", state="sending", msg_id=None, holder=None)
    platforms.ledger.put("wechat", task.delivery_id, state="gathered")
    assert settle(platforms, adapter, task) == first  # 45065 named the message already sent
    assert len(platforms.inspect("wechat")["mass_sends"]) == 1


def test_a_ninth_copy_and_a_used_quota_wait_for_the_next_day(platforms: Platforms) -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 9, 0, tzinfo=CST))
    adapter = mass_adapter(platforms, clock)
    tasks = [platforms.task("wechat", publication()) for _ in range(9)]
    for task in tasks:
        assert isinstance(adapter.deliver(task), Pending)
    clock.at = dt.datetime(2026, 12, 3, 18, 0, 1, tzinfo=CST)
    results = [settle(platforms, adapter, task) for task in tasks[:8]]
    assert all(isinstance(r, Delivered) for r in results)
    ninth = adapter.deliver(later(tasks[8], checks=1))
    assert isinstance(ninth, Pending) and "full (8 articles)" in ninth.reason and "2026-12-04 18:00" in ninth.reason
    # The next pipeline day, but the sandbox's quota day has not turned: the account's mass send is used.
    clock.at = dt.datetime(2026, 12, 4, 18, 0, 1, tzinfo=CST)
    refused = adapter.deliver(later(tasks[8], checks=2))
    assert isinstance(refused, Pending) and "45028" in refused.reason and "2026-12-05 18:00" in refused.reason
    platforms.advance("wechat", 86400)
    clock.at = dt.datetime(2026, 12, 5, 18, 0, 1, tzinfo=CST)
    done = settle(platforms, adapter, later(tasks[8], checks=3))
    assert isinstance(done, Delivered) and "article 1 of 1" in (done.detail or "")
    assert [s["articles"] for s in platforms.inspect("wechat")["mass_sends"]] == [8, 1]


def test_retracting_a_mass_sent_copy_deletes_its_article_only(platforms: Platforms) -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 17, 0, tzinfo=CST))
    adapter = mass_adapter(platforms, clock)
    pubs = [publication(), publication()]
    tasks = [platforms.task("wechat", pub) for pub in pubs]
    for task in tasks:
        adapter.deliver(task)
    clock.at = dt.datetime(2026, 12, 3, 18, 0, 1, tzinfo=CST)
    sent = [settle(platforms, adapter, task) for task in tasks]
    gone = adapter.deliver(platforms.task("wechat", pubs[1], Action.retract))
    assert isinstance(gone, Delivered) and "deleted" in (gone.detail or "")
    assert requests.get(sent[1].url, timeout=10).status_code == 404  # the second article's page is gone
    assert requests.get(sent[0].url, timeout=10).status_code == 200  # the first stays


def test_a_copy_retracted_or_revised_before_the_send_time_is_not_sent_as_it_was(platforms: Platforms) -> None:
    clock = Clock(dt.datetime(2026, 12, 3, 12, 0, tzinfo=CST))
    adapter = mass_adapter(platforms, clock)
    withdrawn, revised = publication(), publication()
    newer = revised.model_copy(update={"version": 2, "title": "关于修订后惠企政策的通知"})
    tasks = [platforms.task("wechat", withdrawn), platforms.task("wechat", revised), platforms.task("wechat", newer)]
    for task in tasks:
        assert isinstance(adapter.deliver(task), Pending)
    gone = adapter.deliver(platforms.task("wechat", withdrawn, Action.retract))
    assert isinstance(gone, Delivered) and "nothing was published" in (gone.detail or "")
    clock.at = dt.datetime(2026, 12, 3, 18, 0, 1, tzinfo=CST)
    results = [settle(platforms, adapter, task) for task in tasks]
    assert "retracted meanwhile" in (results[0].detail or "") and results[0].url is None
    assert "version 2 goes in the mass send instead" in (results[1].detail or "")
    [sent] = platforms.inspect("wechat")["mass_sends"]
    assert sent["titles"] == [tasks[2].rendition["title"]] and results[2].url == sent["urls"][0]


def test_a_mass_send_still_sending_finishes_after_the_sandbox_restarts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="http://127.0.0.1:9")  # no govcast: the event is not delivered
    first = WechatSandbox(settings)
    first.faults.values["publish_delay"] = 3600.0  # still sending when the process goes
    first.drafts["sbx_draft_1"] = {"articles": [{"title": "关于重启演练的通知", "content": "<p>正文</p>"}], "created_at": 0.0}
    body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": "sbx_draft_1"}, "msgtype": "mpnews", "clientmsgid": "r"}
    msg_id = json.loads(sandbox_mass.sendall(first, body).body)["msg_id"]
    first.state_file.save(first._snapshot())
    again = WechatSandbox(settings)  # the restarted govcast's sandbox: the job runs on, as on the platform
    wait_until(lambda: again.mass[str(msg_id)]["msg_status"] == "SEND_SUCCESS")
    assert json.loads(sandbox_mass.sendall(again, {**body, "clientmsgid": "s"}).body)["errcode"] == 45028  # still today's
