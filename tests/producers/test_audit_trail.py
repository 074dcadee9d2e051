"""The audit trail over the API: a scripted run yields entries naming each actor; an edited row fails `audit verify`."""

from __future__ import annotations

from sqlalchemy import update

from govcast.samples import sample_policy
from persistence.tables import audit_log
from producers.auth import new_token
from tests.conftest import cli
from tests.producers.test_screening_review import run_plan

CODE = "91370100MA3C0000X8"


def test_a_scripted_run_is_on_the_trail_with_its_actors(client, dept, operator, store, bus, settings, tmp_path, problem):
    made = client.post("/v1/tokens", headers=operator, json={"kind": "department", "name": "临时部门账号",
                                                             "publisher_code": "11370100MB2866908X"}).json()
    held = client.post("/v1/publications", headers=dept, json=sample_policy(body="<p>此件为内部资料。</p>")).json()
    run_plan(store, bus, settings)
    assert client.post(f"/v1/publications/{held['id']}/approve", headers=operator).status_code == 202
    revised = client.put(f"/v1/publications/{held['id']}", headers=dept, json=sample_policy(title="修订后的标题"))
    assert revised.status_code == 202, revised.text
    assert client.post(f"/v1/publications/{held['id']}/retract", headers=operator,
                       json={"reason": "内容有误，撤回重发"}).status_code == 202
    assert client.delete(f"/v1/tokens/{made['id']}", headers=operator).status_code == 204
    sub = {"credit_code": CODE, "name": "某某科技有限公司", "email": "a@example.test", "channels": ["email"]}
    assert client.post("/v1/subscribers", headers=operator, json=sub).status_code == 201

    trail = client.get("/v1/audit", headers=operator).json()["items"]
    actions = [(e["action"], e["actor"]["kind"]) for e in reversed(trail) if e["actor"]["kind"] != "cli"]
    assert actions == [("token.create", "operator"), ("publication.submit", "department"),
                       ("publication.approve", "operator"), ("publication.revise", "department"),
                       ("publication.retract", "operator"), ("token.revoke", "operator"),
                       ("subscriber.create", "operator")]
    by_action = {e["action"]: e for e in trail}
    assert by_action["publication.revise"]["detail"]["changes"]["title"]["to"] == "修订后的标题"
    assert by_action["publication.retract"]["detail"]["reason"] == "内容有误，撤回重发"
    assert by_action["publication.submit"]["actor"]["name"] == "济南市人民政府办公厅（演示）"
    assert by_action["publication.submit"]["client"] == "testclient"
    assert made["token"] not in str(trail)  # no secret on the trail

    about = client.get(f"/v1/audit?publication={held['id']}", headers=operator).json()["items"]
    assert [e["action"] for e in about] == ["publication.retract", "publication.revise", "publication.approve",
                                            "publication.submit"]
    only_tokens = client.get("/v1/audit?action=token.", headers=operator).json()["items"]
    assert {e["action"] for e in only_tokens} == {"token.create", "token.revoke"}
    problem(client.get("/v1/audit", headers=dept), 403)

    ok = cli("audit", "verify", "--data-dir", str(tmp_path))
    assert ok.returncode == 0 and "chain intact" in ok.stdout, ok.stdout + ok.stderr
    retract_seq = by_action["publication.retract"]["seq"]
    with store.transaction() as conn:  # someone softens the recorded reason in the database
        conn.execute(update(audit_log).where(audit_log.c.seq == retract_seq).values(detail='{"reason": "例行更新"}'))
    broken = cli("audit", "verify", "--data-dir", str(tmp_path))
    assert broken.returncode == 1 and f"row {retract_seq}:" in broken.stderr and "edited" in broken.stderr


def test_refused_and_replayed_requests_leave_no_entry(client, dept, other, store):
    key = {"Idempotency-Key": "k-1"}
    assert client.post("/v1/publications", headers=dept | key, json=sample_policy()).status_code == 202
    assert client.post("/v1/publications", headers=dept | key, json=sample_policy()).status_code == 202  # replay
    assert client.post("/v1/publications", headers=other, json=sample_policy()).status_code == 403
    operator = {"Authorization": "Bearer " + new_token(store, "operator", "审计员2")}
    after = client.get("/v1/audit?action=publication.submit", headers=operator).json()["items"]
    assert len(after) == 1
