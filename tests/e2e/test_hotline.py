"""12345 hotline knowledge base end to end: `govcast run` with the hotline channel on and its bundled sandbox.

A policy files an entry pointing at its portal page; a later decision that repeals it takes the entry
down (naming the decision) as part of publishing the decision; a retraction retracts the decision's own
entry; a notice is no hotline matter. Embedded host only: the Kafka host runs the same stage functions
(tests/processors/test_faust_host.py), and this channel adds nothing host-specific.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess, launch


@pytest.fixture(scope="module")
def govcast(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    process = launch(request, "embedded", tmp_path_factory.mktemp("hotline") / "data",
                     env={"GOVCAST_CHANNELS": "portal,hotline"})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def editor(govcast: GovcastProcess) -> Client:
    return Client(govcast.url, govcast.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))


def entry(govcast: GovcastProcess, source_id: str) -> dict[str, Any]:
    answer = requests.get(f"{govcast.url}/sandbox/hotline/_inspect", timeout=10)
    assert answer.status_code == 200, answer.text
    return next(e for e in answer.json()["entries"] if e["source_id"] == source_id)


def publish(editor: Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = editor.submit(payload)
    assert response.status_code == 202, response.text
    return editor.wait_for(response.json()["id"], "delivered")


def test_the_hotline_entry_follows_publish_repeal_and_retraction(govcast: GovcastProcess, editor: Client) -> None:
    policy = publish(editor, sample_policy(title="关于支持小微企业吸纳就业的若干措施"))
    assert policy["channels"] == ["portal", "hotline"] and policy["deliveries"]["hotline"]["status"] == "delivered"
    filed = entry(govcast, policy["id"])
    assert filed["status"] == "active" and filed["index_no"] == policy["index_no"]
    assert filed["source_url"] == policy["deliveries"]["portal"]["url"]  # the original, on the portal
    assert filed["question"] == "《关于支持小微企业吸纳就业的若干措施》有哪些政策要点？"

    decision = publish(editor, sample_policy(title="关于废止支持小微企业吸纳就业措施的决定",
                                             related=[{"id": policy["id"], "relation": "repeals"}]))
    lapsed = editor.wait_for(policy["id"], "delivered", version=2)
    assert lapsed["validity"] == "废止" and lapsed["channels"] == ["portal", "hotline"]
    withdrawn = entry(govcast, policy["id"])
    assert withdrawn["status"] == "withdrawn" and "关于废止支持小微企业吸纳就业措施的决定" in withdrawn["reason"]
    assert entry(govcast, decision["id"])["status"] == "active"

    assert editor.retract(decision["id"], "误发，撤回").status_code == 202
    editor.wait_for(decision["id"], "retracted")
    gone = entry(govcast, decision["id"])
    assert gone["status"] == "retracted" and gone["reason"] == "误发，撤回"


def test_a_notice_is_no_hotline_matter(editor: Client) -> None:
    fields = {"title": "关于开展政务公开专题培训的通知", "kind": "notice", "category": "通知公告", "doc_no": ""}
    notice = publish(editor, sample_policy(**fields))
    assert notice["channels"] == ["portal"]  # left out by default
    named = editor.submit(sample_policy(**fields, channels=["portal", "hotline"]))  # and refused when named
    assert named.status_code == 422, named.text
    assert any(e["field"] == "body.channels" and "policies and interpretations" in e["message"]
               for e in named.json()["errors"])
