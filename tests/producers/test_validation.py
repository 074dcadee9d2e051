"""Bad input gets a problem document naming the field, never a 500, and nothing is kept or sent."""

from __future__ import annotations

import json

import pytest

from govcast.samples import OTHER_DEPARTMENT, sample_interpretation, sample_policy
from schemas.publication import MAX_BODY_CHARS

ONLY_FIRST_REVIEW = [{"stage": "初审", "reviewer": "王敏", "at": "2025-03-03T09:10:00+08:00"}]

# (case, payload, status, field named in errors, text the message must contain)
PAYLOAD_CASES = [
    ("doc_no with []", sample_policy(doc_no="鲁政办发[2024]2号"), 422, "body.doc_no", "〔"),
    ("doc_no with leading zero", sample_policy(doc_no="鲁政办发〔2024〕02号"), 422, "body.doc_no", "鲁政办发〔2024〕2号"),
    ("unknown theme top level", sample_policy(theme="不存在的主题"), 422, "body.theme", "主题分类"),
    ("unknown theme second level", sample_policy(theme="综合政务\\不存在"), 422, "body.theme", "政务公开"),
    ("unknown category", sample_policy(category="不存在的分类"), 422, "body.category", "政策文件"),
    ("review chain only 初审", sample_policy(review=ONLY_FIRST_REVIEW), 422, "body.review", "复审"),
    ("missing title", {k: v for k, v in sample_policy().items() if k != "title"}, 422, "body.title", "required"),
    ("body over the schema maximum", sample_policy(body="政" * (MAX_BODY_CHARS + 1)), 422, "body.body", str(MAX_BODY_CHARS)),
    ("channel not configured", sample_policy(channels=["portal", "disclosure"]), 422, "body.channels.1", "not configured"),
    ("channel unknown", sample_policy(channels=["fax"]), 422, "body.channels.0", "portal"),
    ("interpretation without interprets", sample_interpretation("x", related=[]), 422, "body.related", "interprets"),
    ("related id unknown", sample_interpretation("pub_nothere"), 422, "body.related.0.id", "pub_nothere"),
    ("related without id or index_no", sample_policy(related=[{"relation": "related"}]), 422, "body.related.0", "id"),
    ("malformed index_no", sample_policy(index_no="2024-00001"), 422, "body.index_no", "索引号"),
    ("index_no of another publisher", sample_policy(index_no=f"{OTHER_DEPARTMENT['publisher_code']}/2024-00001"), 422,
     "body.index_no", "publisher_code"),
    ("publish_at without zone", sample_policy(publish_at="2030-01-02T09:00:00"), 422, "body.publish_at", "timezone"),
    ("publish_date before written_date", sample_policy(publish_date="2020-01-01"), 422, "body.publish_date", "成文日期"),
    ("publish_at in year 9999 (was a 500)", sample_policy(publish_at="9999-12-31T23:00:00-08:00"), 422, "body.publish_at",
     "2100"),
    ("publish_at in year 9999 east of UTC", sample_policy(publish_at="9999-12-31T23:00:00+08:00"), 422, "body.publish_at",
     "2100"),
    ("written_date in year 1", sample_policy(written_date="0001-01-01"), 422, "body.written_date", "1900"),
    ("review time in year 9999", sample_policy(review=[{**step, "at": "9999-12-31T23:59:59-12:00"} for step in
                                                       sample_policy()["review"]]), 422, "body.review.0.at", "2100"),
    ("unknown field", sample_policy(colour="red"), 422, "body.colour", "not permitted"),
    ("wrong publisher_code", sample_policy(publisher_code=OTHER_DEPARTMENT["publisher_code"]), 403, "body.publisher_code",
     "11370100004188591X"),
]


@pytest.mark.parametrize(
    ("payload", "status", "field", "text"), [c[1:] for c in PAYLOAD_CASES], ids=[c[0] for c in PAYLOAD_CASES]
)
def test_bad_payload_names_the_field(client, dept, bus, problem, payload, status, field, text):
    body = problem(client.post("/v1/publications", json=payload, headers=dept), status, field)
    assert any(text in e["message"] for e in body["errors"] if e["field"] == field), body
    assert bus.events() == []
    assert client.get("/v1/publications", headers=dept).json()["total"] == 0


OVERSIZE = 2 * 1024 * 1024 + 1

# (case, raw request content (a list: sent chunked), content type, status, field named in errors or None)
RAW_CASES = [
    ("malformed JSON", b'{"title": "x",', "application/json", 400, "body"),
    ("JSON but not an object", b"[1, 2]", "application/json", 422, "body"),
    ("not JSON at all", b"title=x", "text/plain", 422, "body"),
    ("over 2 MB with Content-Length", b" " * OVERSIZE, "application/json", 413, None),
    ("over 2 MB streamed without Content-Length", [b" " * (1024 * 1024)] * 3, "application/json", 413, None),
]


@pytest.mark.parametrize(("content", "ctype", "status", "field"), [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_bad_request_bodies(client, dept, bus, problem, content, ctype, status, field):
    body = iter(content) if isinstance(content, list) else content
    response = client.post("/v1/publications", content=body, headers={**dept, "Content-Type": ctype})
    problem(response, status, *([field] if field else []))
    assert bus.events() == []


def test_every_failing_field_is_named_at_once(client, dept, problem):
    payload = sample_policy(doc_no="鲁政办发[2024]2号", theme="不存在", review=ONLY_FIRST_REVIEW, title="")
    body = problem(client.post("/v1/publications", json=payload, headers=dept), 422,
                   "body.doc_no", "body.theme", "body.review", "body.title")
    assert body["type"] == "urn:govcast:problem:validation"


def test_configuration_checks_are_reported_together(client, dept, problem):
    payload = sample_interpretation("pub_nothere", category="不存在的分类", channels=["disclosure"])
    response = client.post("/v1/publications", json=payload, headers=dept)
    problem(response, 422, "body.category", "body.channels.0", "body.related.0.id")


def test_a_large_but_allowed_body_is_accepted(client, dept):
    payload = sample_policy(body="<p>" + "政" * (MAX_BODY_CHARS - 10) + "</p>")
    assert len(json.dumps(payload, ensure_ascii=False).encode()) > 500_000
    assert client.post("/v1/publications", json=payload, headers=dept).status_code == 202


@pytest.mark.parametrize(
    ("query", "field"),
    [("per_page=101", "query.per_page"), ("per_page=0", "query.per_page"), ("page=0", "query.page"),
     ("since=yesterday", "query.since"), ("until=2025-13-01", "query.until"), ("kind=memo", "query.kind"),
     ("channel=fax", "query.channel"),
     # overflows that were 500s: offsets beyond 64-bit integers, dates that leave datetime's range in UTC
     ("page=99999999999999999999", "query.page"), ("page=999999999999999999", "query.page"),
     ("since=0001-01-01", "query.since"), ("until=9999-12-31", "query.until"),
     ("until=9999-12-31T23:00:00-05:00", "query.until"), ("since=0001-01-01T00:00:00%2B01:00", "query.since")],
)
def test_bad_list_queries(client, dept, problem, query, field):
    problem(client.get(f"/v1/publications?{query}", headers=dept), 422, field)


@pytest.mark.parametrize("offset", ["99999999999999999999999", "-1"])
def test_bad_directory_offsets(client, operator, problem, offset):
    problem(client.get(f"/v1/subscribers?offset={offset}", headers=operator), 422, "query.offset")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("token", ["abc.é", "é", "abc.%00", "x" * 200])
def test_unsubscribe_links_that_are_not_ours_are_404(client, problem, method, token):
    problem(client.request(method, f"/u/{token}"), 404)


def test_unknown_routes_and_methods_are_problems(client, dept, problem):
    problem(client.get("/v1/nothing", headers=dept), 404)
    body = problem(client.delete("/v1/publications", headers=dept), 405)
    assert body["type"] == "about:blank"
