"""先审后发 end to end on both hosts: a block waits for the department's revision, a warning goes out noted."""

from __future__ import annotations

import requests

from govcast.samples import sample_policy
from tests.conftest import Client

ID = "11010519491231002X"


def test_a_blocked_item_reaches_no_channel_until_the_department_revises_it(department: Client, operator: Client) -> None:
    # An ID number in groups, partly in full-width digits, split by <br>: read as a reader would read it.
    body = "<p>申请人身份证号：１１０１０５ １９４９<br>1231 002X</p>"
    response = department.submit(sample_policy(title="关于公布政务公开联络员名单的通知", body=body))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    held = department.wait_for(pub_id, "held")
    assert [(f["rule"], f["severity"], f["masked"]) for f in held["findings"]] == [("id-number", "block", "11*************02X")]
    assert all(d["status"] != "delivered" for d in held["deliveries"].values())

    refused = requests.post(f"{operator.base}/v1/publications/{pub_id}/approve",
                            headers={"Authorization": f"Bearer {operator.token}"}, timeout=10)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    assert ID not in refused.text and "１１０１０５" not in refused.text

    fixed = department.revise(pub_id, sample_policy(title="关于公布政务公开联络员名单的通知",
                                                    body="<p>申请人身份证号：11*************02X</p>"))
    assert fixed.status_code == 202, fixed.text
    done = department.wait_for(pub_id, "delivered", version=2)
    assert done["findings"] == []
    page = requests.get(done["deliveries"]["portal"]["url"], timeout=10).text
    assert "11*************02X" in page and "１１０１０５" not in page


def test_a_warning_goes_out_and_operators_see_it_in_the_timeline(department: Client, operator: Client) -> None:
    response = department.submit(sample_policy(title="关于开展保密法宣传教育的通知",
                                               body="<p>各单位要严格遵守保密法，保守国家秘密。</p>"))
    assert response.status_code == 202, response.text
    done = operator.wait_for(response.json()["id"], "delivered")
    assert [(f["rule"], f["severity"], f["field"]) for f in done["findings"]] == [("secrecy-term", "warn", "body")]
    notes = [e["detail"] for e in done["timeline"] if "screening notes" in (e["detail"] or "")]
    assert len(notes) == 1 and "保守国家秘密" in notes[0]
