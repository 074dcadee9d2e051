"""Weibo adapter against the Weibo sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from adapters.weibo.render import weibo_length
from schemas import Action, Delivered, Rejected, Retryable, UnknownOutcome
from tests.adapters.newmedia_support import Platforms, later, publication


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    server = Platforms(tmp_path).start()
    yield server
    server.stop()


def share_directly(platforms: Platforms, text: str) -> requests.Response:
    return requests.post(f"{platforms.url}/sandbox/weibo/2/statuses/share.json", data={"status": text},
                         headers={"Authorization": "OAuth2 sandbox-weibo-token"}, timeout=10)


def test_post_is_within_140_and_links_the_portal(platforms: Platforms) -> None:
    pub = publication(summary="为深入贯彻落实党中央、国务院关于全面推进政务公开的决策部署，" * 6)
    task = platforms.task("weibo", pub)
    done = platforms.weibo().deliver(task)
    assert isinstance(done, Delivered) and done.external_id
    [post] = platforms.inspect("weibo")["posts"]
    assert weibo_length(post["text"]) <= 140 and post["length"] <= 140
    assert post["text"].endswith(f" {platforms.url}/portal/zcwj/{pub.id}.html")
    assert "…" in post["text"]
    assert requests.get(done.url or "", timeout=10).status_code == 200
    assert platforms.weibo().deliver(later(task, attempt=2)) == done  # recorded: not posted again
    assert len(platforms.inspect("weibo")["posts"]) == 1


@pytest.mark.parametrize("fault", ["rate_limit", "ip_rate_limit", "busy"])
def test_rate_limits_and_busy_retry_later(platforms: Platforms, fault: str) -> None:
    platforms.faults("weibo", **{fault: 1})
    task = platforms.task("weibo", publication())
    adapter = platforms.weibo()
    first = adapter.deliver(task)
    assert isinstance(first, Retryable)
    assert isinstance(adapter.deliver(later(task, attempt=2)), Delivered)


def test_identical_repeat_is_reconciled_to_the_existing_post(platforms: Platforms) -> None:
    task = platforms.task("weibo", publication())
    existing = share_directly(platforms, task.rendition["status"]).json()
    done = platforms.weibo().deliver(task)
    assert isinstance(done, Delivered) and done.external_id == existing["idstr"]
    assert "already posted" in (done.detail or "")
    assert len(platforms.inspect("weibo")["posts"]) == 1


def test_similar_text_about_another_page_is_not_taken_for_ours(platforms: Platforms) -> None:
    task = platforms.task("weibo", publication())
    other = task.rendition["status"].replace(task.rendition["url"], f"{platforms.url}/portal/zcwj/pub_other.html")
    assert share_directly(platforms, other).status_code == 200
    result = platforms.weibo().deliver(task)
    assert isinstance(result, Rejected) and result.code == "duplicate" and "20017" in result.reason


def test_share_timeout_is_reconciled_without_a_second_post(platforms: Platforms) -> None:
    platforms.faults("weibo", timeout_share=1, delay_seconds=1.5)
    adapter = platforms.weibo(timeout_seconds=0.5)
    task = platforms.task("weibo", publication())
    assert isinstance(adapter.deliver(task), UnknownOutcome)
    done = adapter.deliver(later(task, attempt=2))
    assert isinstance(done, Delivered) and "timeout" in (done.detail or "")
    assert len(platforms.inspect("weibo")["posts"]) == 1


@pytest.mark.parametrize(("fault", "code"), [("expire_token", "21327"), ("revoke_token", "21332")])
def test_token_errors_are_configuration_failures(platforms: Platforms, fault: str, code: str) -> None:
    platforms.faults("weibo", **{fault: True})
    result = platforms.weibo().deliver(platforms.task("weibo", publication()))
    assert isinstance(result, Rejected) and result.code == "configuration" and code in result.reason


def test_a_link_outside_the_safe_domain_is_refused_before_calling(platforms: Platforms) -> None:
    result = platforms.weibo(safe_domain="www.jinan.gov.cn").deliver(platforms.task("weibo", publication()))
    assert isinstance(result, Rejected) and result.code == "configuration"
    assert platforms.inspect("weibo")["posts"] == []


def test_retraction_destroys_the_post_once(platforms: Platforms) -> None:
    adapter = platforms.weibo()
    pub = publication()
    assert isinstance(adapter.deliver(platforms.task("weibo", pub)), Delivered)
    retract = platforms.task("weibo", pub.model_copy(update={"retracted": True}), Action.retract)
    assert isinstance(adapter.deliver(retract), Delivered)
    assert isinstance(adapter.deliver(retract), Delivered)
    state = platforms.inspect("weibo")
    assert len(state["deletions"]) == 1 and state["posts"][0]["deleted"] is True
    # a revision after the retraction posts nothing
    revised = platforms.task("weibo", pub.model_copy(update={"version": 2}))
    assert isinstance(adapter.deliver(revised), Delivered)
    assert len(platforms.inspect("weibo")["posts"]) == 1
