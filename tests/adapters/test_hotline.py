"""The 12345 hotline channel against its sandbox over real HTTP: the entry follows the publication.

Created on publish, updated in place on revision, withdrawn when 失效/废止 (naming why), retracted for
good on retraction; old or late tasks never undo a newer state; requests are signed and checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from adapters.channels import default_channels, names, spec_of
from adapters.common.signing import RequestSigning
from adapters.hotline.render import render_hotline
from govcast.samples import sample_policy
from schemas.delivery import Action
from schemas.publication import Lapse, PublicationIn, Targeting, Validity
from settings import Settings
from tests.adapters.hotline_support import INSTALL, PREFIX, HotlineHandle, interpretation, policy, task


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[HotlineHandle]:
    handle = HotlineHandle(tmp_path)
    yield handle
    handle.stop()


def test_the_entry_follows_publish_revise_lapse_and_retraction(kb: HotlineHandle) -> None:
    adapter = kb.adapter()
    first = policy()
    result = adapter.deliver(task(first))
    assert result.kind == "delivered", result
    entry = kb.entry(first.id)
    assert entry["status"] == "active" and entry["version"] == 1 and entry["index_no"] == str(first.index)
    assert entry["title"] == first.title and entry["question"].startswith(f"《{first.title}》")
    assert entry["phone"] == "12345" and entry["source_url"].startswith("http://gov.test/portal/")
    assert entry["points"] and all(len(point) <= 80 for point in entry["points"])
    entry_id = entry["entry_id"]

    revised = policy(version=2, title="关于印发2025年济南市政务公开工作要点（修订）的通知")
    assert adapter.deliver(task(revised)).kind == "delivered"
    entry = kb.entry(first.id)
    assert entry["entry_id"] == entry_id and entry["version"] == 2 and entry["title"].endswith("（修订）的通知")

    repealed = revised.model_copy(update={"version": 3, "validity": Validity.repealed, "lapsed_by": Lapse(
        by_id="pub_later", by_title="关于废止部分政务公开文件的决定", by_doc_no="济政办字〔2025〕9号")})
    result = adapter.deliver(task(repealed))
    assert result.kind == "delivered", result
    entry = kb.entry(first.id)
    assert entry["status"] == "withdrawn" and entry["version"] == 3
    assert entry["reason"] == "本政策已废止，见《关于废止部分政务公开文件的决定》济政办字〔2025〕9号"

    gone = repealed.model_copy(update={"retracted": True, "retract_reason": "内容有误"})
    assert adapter.deliver(task(gone, Action.retract)).kind == "delivered"
    entry = kb.entry(first.id)
    assert entry["status"] == "retracted" and entry["reason"] == "内容有误"
    assert [step["status"] for step in entry["history"]] == ["active", "active", "withdrawn", "retracted"]


def test_old_and_late_tasks_never_undo_a_newer_state(kb: HotlineHandle) -> None:
    adapter = kb.adapter()
    assert adapter.deliver(task(policy(version=2, title="第二版标题"))).kind == "delivered"
    late = adapter.deliver(task(policy(version=1)))  # a retry of version 1 that arrives after version 2
    assert late.kind == "delivered" and "newer version" in (late.detail or "")
    assert kb.entry("pub_hotline0001")["title"] == "第二版标题"

    retracted_first = policy(pub_id="pub_hotline0009")
    gone = retracted_first.model_copy(update={"retracted": True, "retract_reason": "误发"})
    assert adapter.deliver(task(gone, Action.retract)).kind == "delivered"  # before any filing
    after = adapter.deliver(task(retracted_first))
    assert after.kind == "delivered" and "retracted earlier" in (after.detail or "")
    assert kb.entry("pub_hotline0009")["status"] == "retracted"


def test_the_same_filing_twice_changes_nothing(kb: HotlineHandle) -> None:
    adapter = kb.adapter()
    assert adapter.deliver(task(policy())).kind == "delivered"
    assert adapter.deliver(task(policy())).kind == "delivered"
    assert kb.entry("pub_hotline0001")["revision"] == 1


def test_requests_are_signed_and_a_wrong_secret_or_a_replay_is_refused(kb: HotlineHandle) -> None:
    wrong = kb.adapter(secret=SecretStr("not-the-secret")).deliver(task(policy()))
    assert wrong.kind == "rejected" and wrong.code == "configuration"  # type: ignore[union-attr]
    assert [r["code"] for r in kb.inspect()["requests"]] == ["SIGNATURE_INVALID"]
    signing = RequestSigning("X-Hotline")
    path = f"{PREFIX}/v1/entries/pub_hotline0001"
    headers = signing.headers("govcast-sandbox", "sandbox-hotline-secret-not-for-production", "GET", path, b"", time.time())
    first = requests.get(kb.url + "/v1/entries/pub_hotline0001", headers=headers, timeout=5)
    replay = requests.get(kb.url + "/v1/entries/pub_hotline0001", headers=headers, timeout=5)
    assert first.json()["code"] == "ENTRY_NOT_FOUND" and first.status_code == 404  # signature accepted
    assert replay.status_code == 401 and replay.json()["code"] == "NONCE_REPLAYED"


def test_an_interpretation_is_asked_about_as_such_and_names_its_policy() -> None:
    entry = render_hotline(interpretation("pub_hotline0001"), INSTALL)
    assert entry["kind"] == "interpretation" and entry["question"].startswith("如何理解")
    assert entry["interprets"] == ["pub_hotline0001"]


def test_audience_comes_from_the_targeting_in_words() -> None:
    targeted = policy(targeting=Targeting(regions=["历下区"], industries=["C39"], scales=["小型"]).model_dump())
    audience = render_hotline(targeted, INSTALL)["audience"]
    assert audience == "注册地在历下区，属于计算机、通信和其他电子设备制造业，规模为小型的企业"
    assert render_hotline(policy(), INSTALL)["audience"].startswith(policy().publisher)


def test_policy_points_are_short_and_at_most_six() -> None:
    body = "".join(f"<p>第{i}条，" + "具体措施" * 40 + "。</p>" for i in range(10))
    points = render_hotline(policy(body=body, summary=""), INSTALL)["points"]
    assert len(points) == 6 and all(len(p) <= 80 for p in points) and points[0].startswith("第0条")


def test_registered_off_by_default_for_policies_and_interpretations_only() -> None:
    spec = spec_of("hotline")
    assert "hotline" in names() and "hotline" not in default_channels()
    assert spec.capabilities.follows_validity and spec.sandboxes.keys() == {"hotline"}
    assert spec.applies(PublicationIn.model_validate(sample_policy()))
    assert not spec.applies(PublicationIn.model_validate(sample_policy(kind="notice", category="通知公告", doc_no="")))
    assert Settings(channels=["portal", "hotline"]).channels == ["portal", "hotline"]


def test_production_needs_a_knowledge_base_url_and_its_secret() -> None:
    with pytest.raises(ValueError, match="GOVCAST_HOTLINE_URL"):
        spec_of("hotline").config(Settings(sandboxes=False))
    with pytest.raises(ValueError, match="GOVCAST_HOTLINE_SECRET"):
        spec_of("hotline").config(Settings(sandboxes=False, channel_env={"hotline": {"url": "https://kb.example"}}))
    config = spec_of("hotline").config(Settings(sandboxes=False, channel_env={"hotline": {
        "url": "https://kb.example/api/", "secret": "s3cret"}}))
    assert config.sandbox is False and config.base_url == "https://kb.example/api"  # type: ignore[attr-defined]


def test_settings_come_from_govcast_hotline_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCAST_HOTLINE_PHONE", "0531-66601234")
    assert render_hotline(policy(), Settings(public_url="http://gov.test"))["phone"] == "0531-66601234"
