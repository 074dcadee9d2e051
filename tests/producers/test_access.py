"""Who may do what: tokens, departments confined to their own publications, operators overseeing all."""

from __future__ import annotations

import datetime as dt

import pytest

from govcast.samples import OTHER_DEPARTMENT, sample_policy

THEIRS = OTHER_DEPARTMENT["publisher_code"]


def post(client, headers, payload=None):
    response = client.post("/v1/publications", json=payload or sample_policy(), headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


@pytest.mark.parametrize(
    "authorization", [None, "Bearer gct_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer", "gct_without_scheme"]
)
@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/publications"), ("GET", "/v1/publications"),
                                              ("GET", "/v1/publications/pub_x"), ("POST", "/v1/publications/pub_x/retract")])
def test_requests_without_a_valid_token_are_401(client, bus, problem, authorization, method, path):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.request(method, path, json=sample_policy() if method == "POST" else None, headers=headers)
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert bus.events() == []


def test_operators_do_not_publish_or_revise(client, dept, operator, problem):
    problem(client.post("/v1/publications", json=sample_policy(), headers=operator), 403)
    mine = post(client, dept)
    problem(client.put(f"/v1/publications/{mine['id']}", json=sample_policy(), headers=operator), 403)


def test_departments_only_see_their_own(client, dept, other, operator, problem):
    mine = post(client, dept)
    theirs = post(client, other, sample_policy(publisher_code=THEIRS, title="数据局的通知"))
    path = f"/v1/publications/{mine['id']}"

    unknown = problem(client.get("/v1/publications/pub_00000000000000000000", headers=other), 404)
    foreign = problem(client.get(path, headers=other), 404)
    assert {k: v for k, v in foreign.items() if k not in ("instance", "detail")} == \
        {k: v for k, v in unknown.items() if k not in ("instance", "detail")}
    problem(client.put(path, json=sample_policy(publisher_code=THEIRS), headers=other), 404)
    problem(client.post(f"{path}/retract", json={"reason": "不是我的"}, headers=other), 404)
    assert client.get(path, headers=dept).json()["version"] == 1  # untouched

    listed = client.get("/v1/publications", headers=other).json()
    assert [i["id"] for i in listed["items"]] == [theirs["id"]] and listed["total"] == 1
    problem(client.get(f"/v1/publications?department={mine['index_no'].split('/')[0]}", headers=other), 403, "query.department")

    assert client.get(path, headers=operator).status_code == 200
    everything = client.get("/v1/publications", headers=operator).json()
    assert {i["id"] for i in everything["items"]} == {mine["id"], theirs["id"]}
    only_theirs = client.get(f"/v1/publications?department={THEIRS}", headers=operator).json()
    assert [i["id"] for i in only_theirs["items"]] == [theirs["id"]]


def test_list_filters_and_pages(client, dept, operator):
    policies = [post(client, dept) for _ in range(3)]
    notice = post(client, dept, sample_policy(kind="notice", category="通知公告", channels=["wechat"]))
    scheduled = post(client, dept, sample_policy(publish_at=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()))

    def ids(query: str) -> list[str]:
        return [i["id"] for i in client.get(f"/v1/publications?{query}", headers=dept).json()["items"]]

    assert ids("kind=notice") == [notice["id"]]
    assert ids("channel=wechat") == [p["id"] for p in (scheduled, notice, *reversed(policies))]
    assert ids("channel=wechat&kind=policy&status=scheduled") == [scheduled["id"]]
    assert set(ids("status=pending")) == {notice["id"], *(p["id"] for p in policies)}

    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert len(ids(f"since={today}&until={today}")) == 5  # a date means that whole Beijing day
    assert ids(f"since={today + dt.timedelta(days=1)}") == []
    assert ids(f"until={today - dt.timedelta(days=1)}") == []
    now = dt.datetime.now(dt.UTC)
    assert len(ids(f"since={(now - dt.timedelta(minutes=5)).isoformat()}".replace("+", "%2B"))) == 5
    assert len(ids(f"until={(now - dt.timedelta(minutes=5)).isoformat()}")) == 0  # unencoded + is tolerated

    first = client.get("/v1/publications?per_page=2&kind=policy", headers=dept).json()
    assert (first["total"], first["page"], first["per_page"], len(first["items"])) == (4, 1, 2, 2)
    assert "prev" not in first["links"]
    second = client.get(first["links"]["next"], headers=dept).json()
    assert second["page"] == 2 and "next" not in second["links"] and "kind=policy" in second["links"]["self"]
    assert client.get(second["links"]["prev"], headers=dept).json()["items"] == first["items"]
    assert {i["id"] for i in first["items"] + second["items"]} == {scheduled["id"], *(p["id"] for p in policies)}
    summary = first["items"][0]
    assert set(summary) == {
        "id", "version", "title", "kind", "status", "index_no", "category", "department", "created_at", "links",
    }


def test_related_ids_of_another_departments_unpublished_items_are_answered_like_unknown_ids(client, dept, other, store,
                                                                                            problem):
    """Defect 4: B could link A's scheduled item by id and show its title and 索引号 on B's public page."""
    from sqlalchemy import update

    from persistence.tables import publications

    scheduled = post(client, dept, sample_policy(publish_at="2099-01-01T09:00:00+08:00", title="尚未公开的通知"))
    mine = post(client, other, sample_policy(publisher_code=THEIRS, title="数据局自己的通知"))

    def link(target: str) -> dict:
        payload = sample_policy(publisher_code=THEIRS, title="数据局的解读", related=[{"id": target, "relation": "related"}])
        return client.post("/v1/publications", json=payload, headers=other)

    foreign = problem(link(scheduled["id"]), 422, "body.related.0.id")
    unknown = problem(link("pub_00000000000000000000"), 422, "body.related.0.id")
    assert foreign["errors"][0]["message"].replace(scheduled["id"], "ID") == \
        unknown["errors"][0]["message"].replace("pub_00000000000000000000", "ID")
    assert "尚未公开" not in str(foreign) and scheduled["index_no"] not in str(foreign)

    own = link(mine["id"])
    assert own.status_code == 202, own.text
    with store.transaction() as conn:  # A's item goes live on the portal: its title is public now
        conn.execute(update(publications).where(publications.c.id == scheduled["id"]).values(status="delivered"))
    public = link(scheduled["id"])
    assert public.status_code == 202, public.text
    related = client.get(f"/v1/publications/{public.json()['id']}", headers=other).json()["related"]
    assert related[0]["title"] == "尚未公开的通知"
