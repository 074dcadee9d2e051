"""amends → 已修改 at the API: part of the amending submission, kept by revisions, and the department's to change."""

from __future__ import annotations

from govcast.samples import sample_policy


def test_an_amending_submission_marks_the_target_amended_in_the_same_request(client, dept):
    policy = client.post("/v1/publications", json=sample_policy(title="关于支持企业稳岗扩岗的若干措施"), headers=dept).json()
    amending = client.post("/v1/publications", headers=dept, json=sample_policy(
        title="关于修改《关于支持企业稳岗扩岗的若干措施》的通知", doc_no="济政办字〔2025〕23号",
        related=[{"id": policy["id"], "relation": "amends"}])).json()
    target = client.get(f"/v1/publications/{policy['id']}", headers=dept).json()
    assert target["version"] == 2 and target["validity"] == "已修改"
    assert target["change_note"] == "已被《关于修改《关于支持企业稳岗扩岗的若干措施》的通知》（济政办字〔2025〕23号）修改"

    # a revision that leaves validity out keeps 已修改; revising the amending file does not amend it again
    kept = client.put(policy["links"]["self"], json={k: v for k, v in sample_policy(
        title="关于支持企业稳岗扩岗的若干措施", summary="修订摘要").items() if k != "validity"}, headers=dept)
    assert kept.status_code == 202, kept.text
    assert client.get(f"/v1/publications/{policy['id']}", headers=dept).json()["validity"] == "已修改"
    again = client.put(amending["links"]["self"], headers=dept, json=sample_policy(
        title="关于修改《关于支持企业稳岗扩岗的若干措施》的通知", doc_no="济政办字〔2025〕23号", summary="更正",
        related=[{"id": policy["id"], "relation": "amends"}]))
    assert again.status_code == 202, again.text
    assert client.get(f"/v1/publications/{policy['id']}", headers=dept).json()["version"] == 3

    # still in force, so the department may lapse it itself (a repealed one would answer 409)
    answer = client.put(policy["links"]["self"], json=sample_policy(title="关于支持企业稳岗扩岗的若干措施", validity="失效"),
                        headers=dept)
    assert answer.status_code == 202, answer.text
    assert client.get(f"/v1/publications/{policy['id']}", headers=dept).json()["validity"] == "失效"


def test_an_amended_policy_can_still_be_repealed(client, dept):
    policy = client.post("/v1/publications", json=sample_policy(title="关于加强政务公开专区建设的通知"), headers=dept).json()
    client.post("/v1/publications", headers=dept, json=sample_policy(
        title="关于修改《关于加强政务公开专区建设的通知》的通知", related=[{"id": policy["id"], "relation": "amends"}]))
    client.post("/v1/publications", headers=dept, json=sample_policy(
        title="关于废止《关于加强政务公开专区建设的通知》的决定", related=[{"id": policy["id"], "relation": "repeals"}]))
    target = client.get(f"/v1/publications/{policy['id']}", headers=dept).json()
    assert target["version"] == 3 and target["validity"] == "废止"
