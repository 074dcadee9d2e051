"""Revisions and retractions: versions, 索引号 kept, compare-and-set, events."""

from __future__ import annotations

import threading

from govcast.samples import sample_policy
from schemas.events import EventType
from schemas.publication import Publication


def post(client, headers, payload=None):
    response = client.post("/v1/publications", json=payload or sample_policy(), headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_revision_is_the_next_version_with_the_same_index_no(client, dept, bus):
    first = post(client, dept)
    revised = sample_policy(title="关于印发2025年政务公开工作要点的通知（修订）", validity="失效")
    response = client.put(first["links"]["self"], json=revised, headers=dept)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["id"], accepted["version"], accepted["index_no"]) == (first["id"], 2, first["index_no"])
    assert response.headers["location"] == first["links"]["self"]

    now = client.get(first["links"]["self"], headers=dept).json()
    assert now["version"] == 2 and now["title"] == revised["title"] and now["validity"] == "失效"
    assert now["index_no"] == first["index_no"]
    assert bus.types() == [EventType.submitted, EventType.revised]
    event = bus.events()[-1]
    assert event.subject == first["id"] and event.data["version"] == 2 and event.data["title"] == revised["title"]

    same_index = client.put(first["links"]["self"], json=sample_policy(index_no=first["index_no"]), headers=dept)
    assert same_index.status_code == 202 and same_index.json()["version"] == 3


def test_revision_cannot_change_the_index_no(client, dept, bus, problem):
    first = post(client, dept)
    other_number = first["index_no"].rsplit("-", 1)[0] + "-99999"
    problem(client.put(first["links"]["self"], json=sample_policy(index_no=other_number), headers=dept), 409, "body.index_no")
    problem(client.put("/v1/publications/pub_unknown", json=sample_policy(), headers=dept), 404)
    assert bus.types() == [EventType.submitted]


def test_revision_with_an_idempotency_key_happens_once(client, dept, bus):
    first = post(client, dept)
    headers = {**dept, "Idempotency-Key": "rev-1"}
    one = client.put(first["links"]["self"], json=sample_policy(summary="改"), headers=headers)
    two = client.put(first["links"]["self"], json=sample_policy(summary="改"), headers=headers)
    assert one.json() == two.json() and one.json()["version"] == 2
    assert two.headers["idempotent-replayed"] == "true"
    assert bus.types() == [EventType.submitted, EventType.revised]


def test_concurrent_revisions_never_share_a_version(client, dept, bus):
    first = post(client, dept)
    barrier = threading.Barrier(8)
    answers: list = []

    def revise(n: int) -> None:
        barrier.wait()
        answers.append(client.put(first["links"]["self"], json=sample_policy(summary=f"修订 {n}"), headers=dept))

    threads = [threading.Thread(target=revise, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} <= {202, 409}
    versions = [a.json()["version"] for a in answers if a.status_code == 202]
    assert len(versions) == len(set(versions)) and versions
    final = client.get(first["links"]["self"], headers=dept).json()["version"]
    assert final == 1 + len(versions) == max(versions)
    revised = [e.data["version"] for e in bus.events() if e.type == EventType.revised]
    assert sorted(revised) == sorted(versions)


def test_compare_and_set_lets_only_one_writer_of_a_version_win(client, dept, store):
    first = post(client, dept)
    current = store.publication(first["id"])
    assert current is not None
    candidate = Publication.model_validate(current.model_dump() | {"version": 2, "summary": "A"})
    rival = Publication.model_validate(current.model_dump() | {"version": 2, "summary": "B"})
    with store.transaction() as conn:
        assert store.compare_and_set_publication(conn, candidate, "pending", ["portal"], expected_version=1)
    with store.transaction() as conn:
        assert not store.compare_and_set_publication(conn, rival, "pending", ["portal"], expected_version=1)
    stored = store.publication(first["id"])
    assert stored is not None and stored.summary == "A"


def test_retraction(client, dept, operator, bus, problem):
    first = post(client, dept)
    path = first["links"]["self"]
    response = client.post(f"{path}/retract", json={"reason": "内容有误，另行发布"}, headers=dept)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "retracting" and response.json()["version"] == 1

    now = client.get(path, headers=dept).json()
    assert now["retracted"] is True and now["retract_reason"] == "内容有误，另行发布" and now["status"] == "retracting"
    event = bus.events()[-1]
    assert event.type == EventType.retracted and event.data["retracted"] is True and event.data["version"] == 1

    problem(client.post(f"{path}/retract", json={"reason": "再撤一次"}, headers=dept), 409)
    problem(client.post(f"{path}/retract", json={"reason": "再撤一次"}, headers=operator), 409)
    problem(client.put(path, json=sample_policy(), headers=dept), 409)
    problem(client.post(f"{path}/retract", json={"reason": "x"}, headers=dept), 422, "body.reason")
    assert bus.types() == [EventType.submitted, EventType.retracted]


def test_operators_retract_any_department_s_publication(client, dept, operator, bus):
    first = post(client, dept)
    response = client.post(f"{first['links']['self']}/retract", json={"reason": "保密审查：含内部信息"}, headers=operator)
    assert response.status_code == 202, response.text
    assert client.get(first["links"]["self"], headers=dept).json()["retracted"] is True
    assert bus.types()[-1] == EventType.retracted


def test_a_revision_keeps_the_repeal_of_a_later_publication_until_that_one_is_retracted(client, dept, bus, problem):
    policy = post(client, dept)
    decision = post(client, dept, sample_policy(title="关于废止《2025年政务公开工作要点》的决定", doc_no="济政办字〔2025〕19号",
                                                related=[{"id": policy["id"], "relation": "repeals"}]))
    url = policy["links"]["self"]
    assert client.get(url, headers=dept).json()["validity"] == "废止"

    # a typo fix that leaves 有效性 out: still repealed, and its pages still link the decision
    fix = sample_policy(title="关于印发2025年政务公开工作要点的通知（更正）")
    del fix["validity"]
    assert client.put(url, json=fix, headers=dept).status_code == 202
    now = client.get(url, headers=dept).json()
    assert (now["title"], now["validity"]) == (fix["title"], "废止")
    sent = bus.events()[-1]
    assert sent.subject == policy["id"] and sent.data["lapsed_by"]["by_id"] == decision["id"]

    # 有效 sent explicitly (a CMS re-sending its record) is refused and changes nothing
    refused = problem(client.put(url, json=sample_policy(), headers=dept), 409, "body.validity")
    assert decision["id"] in refused["detail"]
    assert client.get(url, headers=dept).json()["validity"] == "废止"

    # the decision withdrawn, the department decides the policy's 有效性 again
    retracted = client.post(decision["links"]["self"] + "/retract", json={"reason": "决定撤回"}, headers=dept)
    assert retracted.status_code == 202
    assert client.put(url, json=sample_policy(), headers=dept).status_code == 202
    assert client.get(url, headers=dept).json()["validity"] == "有效"
