"""WeChat adapter against the WeChat sandbox over real HTTP: the publish flow and issue 4's faults."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from schemas import Action, Delivered, DeliveryTask, Pending, Rejected, Retryable, UnknownOutcome
from tests.adapters.newmedia_support import Platforms, later, publication, wait_until


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    server = Platforms(tmp_path).start()
    yield server
    server.stop()


def job_done(platforms: Platforms, n: int = 1) -> bool:
    jobs = platforms.inspect("wechat")["publish_jobs"]
    return len([j for j in jobs if j["publish_status"] != 1]) >= n


def settle(platforms: Platforms, adapter: Any, task: DeliveryTask, first: Any) -> Any:
    """Check a Pending delivery again (as the host does) until it resolves."""
    result, checks = first, 0
    while isinstance(result, Pending):
        checks += 1
        wait_until(lambda: job_done(platforms, 1))
        result = adapter.deliver(later(task, checks=checks))
        assert checks < 10
    return result


def test_publish_flow_cover_draft_submit_callback(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    pub = publication()
    task = platforms.task("wechat", pub)
    first = adapter.deliver(task)
    assert isinstance(first, Pending) and first.external_id
    wait_until(lambda: platforms.inspect("wechat")["callbacks"])
    done = adapter.deliver(later(task, checks=1))
    assert isinstance(done, Delivered) and done.url and "/sandbox/wechat/s/" in done.url
    state = platforms.inspect("wechat")
    [callback] = state["callbacks"]
    assert callback["http_status"] == 200 and callback["answer"] == "success"  # signature accepted by govcast
    [article] = state["articles"]
    news = article["news_item"][0]
    assert news["content_source_url"] == f"{platforms.url}/portal/zcwj/{pub.id}.html"
    assert news["thumb_media_id"] in {m["media_id"] for m in state["materials"]}
    assert f"来源：{pub.publisher}" in news["content"]
    assert platforms.ledger.get("wechat", task.delivery_id)["callback"]["publish_status"] == 0
    assert adapter.deliver(later(task, checks=2)) == done  # idempotent: nothing is sent again
    assert len(platforms.inspect("wechat")["publish_jobs"]) == 1


def test_token_expiry_mid_run_is_refreshed_and_the_call_retried_once(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    first = publication()
    settle(platforms, adapter, task := platforms.task("wechat", first), adapter.deliver(task))
    platforms.faults("wechat", expire_token=True)
    second = platforms.task("wechat", publication())
    assert isinstance(adapter.deliver(second), Pending)
    tokens = platforms.inspect("wechat")["tokens"]
    assert len(tokens) == 2 and sum(t["current"] for t in tokens) == 1


def test_workers_share_one_token_through_the_ledger(platforms: Platforms) -> None:
    one, two = platforms.wechat(), platforms.wechat()
    assert isinstance(one.deliver(platforms.task("wechat", publication())), Pending)
    assert isinstance(two.deliver(platforms.task("wechat", publication())), Pending)
    assert len(platforms.inspect("wechat")["tokens"]) == 1
    # someone force-refreshes (the MP console, another installation): the old token dies at once
    forced = requests.post(f"{platforms.url}/sandbox/wechat/cgi-bin/stable_token", timeout=10, json={
        "grant_type": "client_credential", "appid": "wx_sandbox_appid", "secret": "sandbox-app-secret", "force_refresh": True})
    assert forced.json()["access_token"]
    assert isinstance(one.deliver(platforms.task("wechat", publication())), Pending)  # 40001 -> refresh -> retry
    assert isinstance(two.deliver(platforms.task("wechat", publication())), Pending)  # takes the ledger's newer token


def test_busy_bursts_retry_later_and_publish_once(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    platforms.faults("wechat", busy=3)
    task = platforms.task("wechat", publication())
    results = []
    for attempt in range(1, 6):
        results.append(adapter.deliver(later(task, attempt=attempt)))
        if not isinstance(results[-1], Retryable):
            break
    assert [r.kind for r in results] == ["retryable", "retryable", "retryable", "pending"]
    assert "system busy" in results[0].reason and "-1" in results[0].reason
    assert isinstance(settle(platforms, adapter, task, results[-1]), Delivered)
    assert len(platforms.inspect("wechat")["articles"]) == 1


def test_daily_quota_defers_to_the_next_quota_day(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    platforms.faults("wechat", quota=True)
    task = platforms.task("wechat", publication())
    deferred = adapter.deliver(task)
    assert isinstance(deferred, Retryable) and "45009" in deferred.reason
    assert 60 < deferred.retry_after <= 86400 + 60
    assert isinstance(adapter.deliver(later(task, attempt=2)), Retryable)  # still the same quota day
    platforms.advance("wechat", 86400)  # the quota day rolls over in sandbox time
    assert isinstance(settle(platforms, adapter, task, adapter.deliver(later(task, attempt=3))), Delivered)


def test_review_rejection_fails_with_the_platform_reason(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    platforms.faults("wechat", reject_review=1)
    task = platforms.task("wechat", publication())
    failed = settle(platforms, adapter, task, adapter.deliver(task))
    assert isinstance(failed, Rejected) and failed.code == "publish_status_4"
    assert "rejected by review" in failed.reason
    # polling may settle it before the sandbox has recorded its callback POST: wait for that record, then read it
    wait_until(lambda: bool(platforms.inspect("wechat")["callbacks"]))
    assert platforms.inspect("wechat")["callbacks"][0]["publish_status"] == 4


def test_a_lost_callback_is_resolved_by_polling(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    platforms.faults("wechat", drop_callbacks=True)
    task = platforms.task("wechat", publication())
    assert isinstance(adapter.deliver(task), Pending)
    wait_until(lambda: job_done(platforms))
    assert "callback" not in platforms.ledger.get("wechat", task.delivery_id)
    done = adapter.deliver(later(task, checks=1))
    assert isinstance(done, Delivered)
    assert platforms.inspect("wechat")["callbacks"][0]["dropped"] is True


def test_submit_timeout_is_reconciled_without_publishing_twice(platforms: Platforms) -> None:
    adapter = platforms.wechat(timeout_seconds=0.5)
    platforms.faults("wechat", timeout_submit=1, delay_seconds=1.5)
    task = platforms.task("wechat", publication())
    unknown = adapter.deliver(task)
    assert isinstance(unknown, UnknownOutcome)
    assert platforms.ledger.get("wechat", task.delivery_id)["state"] == "submitting"
    wait_until(lambda: job_done(platforms))
    done = adapter.deliver(later(task, attempt=2))
    assert isinstance(done, Delivered) and "submit timeout" in (done.detail or "")
    state = platforms.inspect("wechat")
    assert len(state["publish_jobs"]) == 1 and len(state["articles"]) == 1


def test_submit_timeout_before_the_job_shows_stays_unknown_within_the_grace_time(platforms: Platforms) -> None:
    adapter = platforms.wechat(timeout_seconds=0.3)
    platforms.faults("wechat", timeout_submit=1, delay_seconds=1.0, publish_delay=2.0)
    task = platforms.task("wechat", publication())
    assert isinstance(adapter.deliver(task), UnknownOutcome)
    assert isinstance(adapter.deliver(later(task, attempt=2)), UnknownOutcome)  # not published yet: no resubmit
    assert len(platforms.inspect("wechat")["publish_jobs"]) == 1


@pytest.mark.parametrize(("fault", "code", "words"), [
    ({"check_fail": 1}, "content", "53503"),
    ({"unverified": True}, "configuration", "48001"),
])
def test_refusals_fail_with_reason(platforms: Platforms, fault: dict[str, Any], code: str, words: str) -> None:
    platforms.faults("wechat", **fault)
    result = platforms.wechat().deliver(platforms.task("wechat", publication()))
    assert isinstance(result, Rejected) and result.code == code and words in result.reason


def test_revision_does_not_publish_a_second_article(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    pub = publication()
    settle(platforms, adapter, task := platforms.task("wechat", pub), adapter.deliver(task))
    revised = pub.model_copy(update={"version": 2, "title": pub.title + "（修订）"})
    again = adapter.deliver(platforms.task("wechat", revised))
    assert isinstance(again, Delivered) and "already on WeChat" in (again.detail or "")
    assert len(platforms.inspect("wechat")["articles"]) == 1


def test_retraction_deletes_the_article_once(platforms: Platforms) -> None:
    adapter = platforms.wechat()
    pub = publication()
    settle(platforms, adapter, task := platforms.task("wechat", pub), adapter.deliver(task))
    gone = pub.model_copy(update={"retracted": True, "retract_reason": "内容有误"})
    retract = platforms.task("wechat", gone, Action.retract)
    assert isinstance(adapter.deliver(retract), Delivered)
    assert isinstance(adapter.deliver(retract), Delivered)
    state = platforms.inspect("wechat")
    assert len(state["deletions"]) == 1 and state["articles"][0]["deleted"] is True
    assert requests.get(state["articles"][0]["url"], timeout=10).status_code == 404
    never = publication()
    nothing = adapter.deliver(platforms.task("wechat", never.model_copy(update={"retracted": True}), Action.retract))
    assert isinstance(nothing, Delivered) and "nothing" in (nothing.detail or "")


def test_callbacks_must_be_signed(platforms: Platforms) -> None:
    url = f"{platforms.url}/callbacks/wechat"
    token, timestamp, nonce = "sandbox-callback-token", "1700000000", "abc"
    good = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    echo = requests.get(url, params={"signature": good, "timestamp": timestamp, "nonce": nonce, "echostr": "hi"}, timeout=10)
    assert echo.status_code == 200 and echo.text == "hi"
    xml = ("<xml><MsgType>event</MsgType><Event>PUBLISHJOBFINISH</Event><PublishEventInfo><publish_id>42</publish_id>"
           "<publish_status>0</publish_status><article_id>forged</article_id></PublishEventInfo></xml>")
    forged = requests.post(url, data=xml, params={"signature": "0" * 40, "timestamp": timestamp, "nonce": nonce}, timeout=10)
    assert forged.status_code == 403
    assert platforms.ledger.get("wechat", "cb:42") == {}
    accepted = requests.post(url, data=xml, params={"signature": good, "timestamp": timestamp, "nonce": nonce}, timeout=10)
    assert accepted.status_code == 200 and accepted.text == "success"
    assert platforms.ledger.get("wechat", "cb:42")["callback"]["article_id"] == "forged"
