"""Typed screening findings through the API: what held an item is shown, and blocks cannot be approved.

The real submit API writes to the real embedded log; `run_plan` runs the real plan stage on what is
on the log and projects its status events into the real store, as either host would.
"""

from __future__ import annotations

import asyncio

from govcast.samples import sample_policy
from processors.stages import StageContext, plan
from processors.topology import decode_change
from schemas.delivery import DeliveryTask, StatusEvent

ID = "11010519491231002X"


def run_plan(store, bus, settings) -> None:
    """The pipeline's plan stage and status projection for every publication event on the log so far."""
    ctx = StageContext(settings=settings, store=store, adapters={})
    for event in bus.events():
        for out in asyncio.run(plan(decode_change(event), ctx)):
            # A task's `delivering` statuses reach the store with its delivery's first outcome (the delivery
            # stage sends them, processors.topology): projected here as if that delivery had started.
            statuses = [out] if isinstance(out, StatusEvent) else list(out.statuses) if isinstance(out, DeliveryTask) else []
            for status in statuses:
                store.apply_status(f"{event.id}:{status.channel}:{status.status}:{status.detail}", status)


def submit(client, headers, **changes) -> str:
    response = client.post("/v1/publications", json=sample_policy(**changes), headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_a_held_item_shows_its_findings_masked_with_where_they_are(client, dept, operator, store, bus, settings):
    pub_id = submit(client, dept, body="<p>联络员：王敏，手机138 1234 5678。</p>", keywords=["联系13912345678"])
    run_plan(store, bus, settings)
    for headers in (dept, operator):  # the department that must fix it, and the operator who reviews it
        body = client.get(f"/v1/publications/{pub_id}", headers=headers).json()
        assert body["status"] == "held"
        assert [(f["rule"], f["severity"], f["field"], f["masked"]) for f in body["findings"]] == [
            ("mobile-number", "hold", "keywords[0]", "139****5678"),
            ("mobile-number", "hold", "body", "138****5678"),
        ]
        assert body["findings"][1]["excerpt"] == "联络员：王敏，手机138****5678。"
        assert "1234" not in str(body["findings"]) and "13912345678" not in str(body["findings"])
    detail = body["timeline"][-1]["detail"]
    assert detail.startswith("held for operator review") and "138****5678" in detail and "1234 5678" not in detail


def test_an_operator_cannot_approve_what_screening_blocked(client, dept, operator, store, bus, settings, problem):
    pub_id = submit(client, dept, body=f"<p>秘密★1年</p><p>申请人身份证号{ID}。</p>")
    run_plan(store, bus, settings)
    held = client.get(f"/v1/publications/{pub_id}", headers=operator).json()
    assert held["status"] == "held" and held["timeline"][-1]["detail"].startswith("blocked by screening")
    assert {(f["rule"], f["severity"]) for f in held["findings"]} == {("classification-mark", "block"), ("id-number", "block")}

    refused = client.post(f"/v1/publications/{pub_id}/approve", headers=operator)
    body = problem(refused, 409, "body")
    assert "cannot approve" in body["detail"] and ID not in refused.text and "11*************02X" in refused.text
    assert client.get(f"/v1/publications/{pub_id}", headers=operator).json()["status"] == "held"

    # The department revises it; the clean revision is screened again and goes out without an approval.
    revised = client.put(f"/v1/publications/{pub_id}", headers=dept,
                         json=sample_policy(body="<p>申请人身份证号11*************02X。</p>"))
    assert revised.status_code == 202, revised.text
    run_plan(store, bus, settings)
    now = client.get(f"/v1/publications/{pub_id}", headers=operator).json()
    assert now["version"] == 2 and now["findings"] == [] and now["status"] == "delivering"


def test_an_operator_approves_what_screening_only_held(client, dept, operator, store, bus, settings):
    pub_id = submit(client, dept, body="<p>此件为内部资料，收款账户6222 0202 0011 2233 446。</p>")
    run_plan(store, bus, settings)
    assert client.get(f"/v1/publications/{pub_id}", headers=operator).json()["status"] == "held"
    approved = client.post(f"/v1/publications/{pub_id}/approve", headers=operator)
    assert approved.status_code == 202, approved.text
    run_plan(store, bus, settings)
    after = client.get(f"/v1/publications/{pub_id}", headers=operator).json()
    assert after["status"] == "delivering"
    # What the operator approved over stays visible.
    assert [f["rule"] for f in after["findings"]] == ["internal-wording", "bank-card"]
    # The timeline names who released it (issue 10: the actor of each human action).
    assert [t["actor"] for t in after["timeline"] if "approved" in (t["detail"] or "")] == ["政务公开办值班员 (操作员)"]


def test_warnings_go_out_and_are_noted_in_the_timeline(client, dept, operator, store, bus, settings):
    pub_id = submit(client, dept, body="<p>各单位要严格遵守保密法，保守国家秘密。</p>")
    run_plan(store, bus, settings)
    body = client.get(f"/v1/publications/{pub_id}", headers=operator).json()
    assert body["status"] == "delivering"
    assert [(f["rule"], f["severity"]) for f in body["findings"]] == [("secrecy-term", "warn")]
    notes = [t["detail"] for t in body["timeline"] if t["channel"] is None and "screening notes" in (t["detail"] or "")]
    assert len(notes) == 1 and "保守国家秘密" in notes[0]


def test_a_clean_item_has_no_findings_and_no_screening_note(client, dept, store, bus, settings):
    pub_id = submit(client, dept)
    run_plan(store, bus, settings)
    body = client.get(f"/v1/publications/{pub_id}", headers=dept).json()
    assert body["findings"] == [] and body["status"] == "delivering"
    assert not any("screening" in (t["detail"] or "") for t in body["timeline"])
