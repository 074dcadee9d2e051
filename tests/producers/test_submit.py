"""Submitting publications: acceptance, 索引号 allocation, related references, idempotency."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT, sample_interpretation, sample_policy
from persistence.store import Principal
from persistence.tables import timeline
from processors.stages import RECORDED_STATUS
from producers.publishing import Publisher
from schemas.events import EventType, Topics, derived_id
from schemas.publication import Accepted, PublicationIn

CODE = DEMO_DEPARTMENT["publisher_code"]


def submit(client, headers, payload=None, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/publications", json=payload or sample_policy(), headers={**headers, **extra})


def test_accepted_submission_is_stored_and_on_the_bus(client, dept, bus):
    response = submit(client, dept)
    assert response.status_code == 202, response.text
    accepted = response.json()
    pub_id = accepted["id"]
    assert pub_id.startswith("pub_") and accepted["version"] == 1 and accepted["status"] == "pending"
    assert response.headers["location"] == accepted["links"]["self"] == f"/v1/publications/{pub_id}"

    got = client.get(accepted["links"]["self"], headers=dept)
    assert got.status_code == 200, got.text
    body = got.json()
    policy = sample_policy()
    assert {k: body[k] for k in ("title", "doc_no", "category", "theme", "publisher_code")} == {
        k: policy[k] for k in ("title", "doc_no", "category", "theme", "publisher_code")
    }
    assert body["id"] == pub_id and body["version"] == 1 and body["status"] == "pending"
    assert body["department"] == CODE and body["index_no"] == accepted["index_no"]
    assert body["channels"] == ["portal", "wechat", "weibo"]  # the configured channels by default
    assert body["deliveries"] == {} and body["timeline"] == [] and body["retracted"] is False
    assert body["links"]["self"] == f"/v1/publications/{pub_id}"

    [event] = bus.events()
    assert event.type == EventType.submitted and event.subject == pub_id and event.source == "/govcast/api"
    assert event.data["id"] == pub_id and event.data["index"]["code"] == CODE and event.data["body_html"]


def test_index_numbers_are_allocated_in_sequence_per_publisher_and_year(client, dept, other):
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    first, second = (submit(client, dept).json()["index_no"] for _ in range(2))
    assert (first, second) == (f"{CODE}/{year}-00001", f"{CODE}/{year}-00002")
    theirs = submit(client, other, sample_policy(publisher_code=OTHER_DEPARTMENT["publisher_code"])).json()["index_no"]
    assert theirs == f"{OTHER_DEPARTMENT['publisher_code']}/{year}-00001"
    dated = submit(client, dept, sample_policy(written_date="2024-05-06", publish_date="2024-05-06")).json()["index_no"]
    assert dated == f"{CODE}/2024-00001"  # the year of 发布日期, a sequence of its own


def test_a_given_index_no_is_kept_unique_and_skipped_by_allocation(client, dept, problem):
    given = f"{CODE}/2024-00001"
    response = submit(client, dept, sample_policy(index_no=given))
    assert response.status_code == 202 and response.json()["index_no"] == given
    assert client.get(response.headers["location"], headers=dept).json()["index_no"] == given

    problem(submit(client, dept, sample_policy(index_no=given)), 409, "body.index_no")
    allocated = submit(client, dept, sample_policy(written_date="2024-06-01", publish_date="2024-06-01")).json()["index_no"]
    assert allocated == f"{CODE}/2024-00002"  # 00001 is taken by the explicit one


def test_publish_at_in_the_future_is_scheduled(client, dept):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    assert submit(client, dept, sample_policy(publish_at=later)).json()["status"] == "scheduled"
    assert submit(client, dept, sample_policy(publish_at=earlier)).json()["status"] == "pending"


def test_a_scheduled_submission_records_its_timeline_entry_with_its_event(client, dept, bus, store):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    accepted = submit(client, dept, sample_policy(publish_at=later.isoformat())).json()
    now = submit(client, dept).json()
    scheduled_event, now_event = bus.events()
    # the plan adds nothing for it (processors.stages.RECORDED_STATUS): the submission's commit holds what it would have
    assert scheduled_event.model_extra == {RECORDED_STATUS: "scheduled"} and not now_event.model_extra
    [entry] = store.timeline_of(accepted["id"])
    with store.engine.connect() as conn:  # the id the plan's own status would have had: a replayed plan adds no second
        assert conn.execute(select(timeline.c.event_id)).scalars().all() == [derived_id(scheduled_event.id, 0)]
    assert (entry["status"], entry["channel"], entry["version"]) == ("scheduled", None, 1)
    assert entry["detail"] == f"scheduled for {later.isoformat()}"
    assert store.timeline_of(now["id"]) == []
    body = client.get(accepted["links"]["self"], headers=dept).json()
    assert body["status"] == "scheduled" and [e["status"] for e in body["timeline"]] == ["scheduled"]


def test_related_references_resolve_to_stored_publications(client, dept, other, problem):
    policy = submit(client, dept).json()
    interp = submit(client, dept, sample_interpretation(policy["id"]))
    assert interp.status_code == 202, interp.text
    [link] = client.get(interp.headers["location"], headers=dept).json()["related"]
    assert link == {"id": policy["id"], "index_no": policy["index_no"], "relation": "interprets",
                    "title": sample_policy()["title"]}

    by_index = sample_policy(related=[{"index_no": policy["index_no"], "relation": "related"}])
    [link] = client.get(submit(client, dept, by_index).headers["location"], headers=dept).json()["related"]
    assert link["id"] == policy["id"] and link["title"] == sample_policy()["title"]

    # a policy govcast does not hold (e.g. the State Council's) stays an external reference
    external = sample_interpretation("unused", related=[{"index_no": "000014349/2024-00012", "relation": "interprets"}])
    [link] = client.get(submit(client, dept, external).headers["location"], headers=dept).json()["related"]
    assert link["id"] is None and link["index_no"] == "000014349/2024-00012"

    # 索引号 are guessable: another department's unpublished item is not revealed through them
    foreign = sample_policy(publisher_code=OTHER_DEPARTMENT["publisher_code"],
                            related=[{"index_no": policy["index_no"], "relation": "related"}])
    [link] = client.get(submit(client, other, foreign).headers["location"], headers=other).json()["related"]
    assert link["id"] is None and link["title"] is None

    problem(submit(client, dept, sample_interpretation("pub_doesnotexist0000000")), 422, "body.related.0.id")


def test_same_idempotency_key_and_body_replays_the_first_answer(client, dept, bus):
    first = submit(client, dept, key="cms-4711")
    again = submit(client, dept, key="cms-4711")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["location"] == first.headers["location"]
    assert len(bus.events()) == 1
    assert client.get("/v1/publications", headers=dept).json()["total"] == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(client, dept, other, bus, problem):
    first = submit(client, dept, key="cms-4712")
    body = problem(submit(client, dept, sample_policy(title="另一份文件"), key="cms-4712"), 409, "header.Idempotency-Key")
    assert "different" in body["detail"]
    assert len(bus.events()) == 1
    # keys belong to the principal: another department may use the same key for its own request
    theirs = submit(client, other, sample_policy(publisher_code=OTHER_DEPARTMENT["publisher_code"]), key="cms-4712")
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]


def test_an_overlong_idempotency_key_is_rejected(client, dept, problem):
    problem(submit(client, dept, key="k" * 201), 422, "header.Idempotency-Key")


def test_the_fast_path_answers_as_fastapis_own(client, dept, bus, problem, monkeypatch):
    """The submit route validates a JSON body from its bytes (SubmitRoute); any other request takes FastAPI's path.
    Both answer alike: the same 202 (and replay), the same 422 naming the field, 401 before 422."""
    import producers.api.publications as route

    general: list[str] = []
    validate = route.PublicationIn.model_validate_json

    def counted(raw, *args, **kwargs):
        general.append("fast")
        return validate(raw, *args, **kwargs)

    monkeypatch.setattr(route.PublicationIn, "model_validate_json", counted)
    raw = json.dumps(sample_policy(title="快速路径")).encode()
    fast = client.post("/v1/publications", content=raw, headers={**dept, "Content-Type": "application/json; charset=utf-8",
                                                                   "Idempotency-Key": "fast-1"})
    assert general == ["fast"]
    slow = client.post("/v1/publications", content=raw, headers={**dept, "Content-Type": "application/vnd.cms+json",
                                                                   "Idempotency-Key": "slow-1"})
    assert general == ["fast"]  # not a plain application/json body: FastAPI's own path
    assert fast.status_code == slow.status_code == 202
    assert fast.json()["status"] == slow.json()["status"] == "pending"
    assert fast.headers["location"].startswith("/v1/publications/pub_")
    replay = client.post("/v1/publications", content=raw, headers={**dept, "Content-Type": "application/json",
                                                                     "Idempotency-Key": "fast-1"})
    assert replay.json() == fast.json() and replay.headers["idempotent-replayed"] == "true"
    assert len(bus.events()) == 2
    bad = json.dumps(sample_policy(title="")).encode()
    for ctype in ("application/json", "application/vnd.cms+json"):
        problem(client.post("/v1/publications", content=bad, headers={**dept, "Content-Type": ctype}), 422, "body.title")
        problem(client.post("/v1/publications", content=bad, headers={"Authorization": "Bearer gct_nope", "Content-Type": ctype}), 401)
        problem(client.post("/v1/publications", content=raw, headers={**dept, "Content-Type": ctype, "Idempotency-Key": ""}),
                422, "header.Idempotency-Key")
    problem(client.post("/v1/publications", content=raw, headers={"Content-Type": "application/json"}), 401)
    assert len(bus.events()) == 2
    # the Authorization header read as HTTPBearer reads it: the scheme in any case, nothing but a bearer token
    token = dept["Authorization"].split(" ", 1)[1]
    before = len(general)
    for ctype in ("application/json", "application/vnd.cms+json"):
        for authorization in (f"Basic {token}", "Bearer ", "Bearer", token, f"Bearer{token}"):
            problem(client.post("/v1/publications", content=raw, headers={"Authorization": authorization,
                                                                          "Content-Type": ctype}), 401)
        lower = client.post("/v1/publications", content=raw, headers={"Authorization": f"bEaReR  {token} ",
                                                                      "Content-Type": ctype})
        assert lower.status_code == 202
    assert len(bus.events()) == 4
    assert len(general) == before + 6  # the application/json ones (five 401s, one 202) took the fast path


def test_the_answer_is_the_accepted_document(settings, store, bus):
    """The 202 body is built as a dict: exactly what `Accepted` dumps."""
    principal = Principal("prn_cli", "department", "CLI", CODE)
    publisher = Publisher(settings, store, bus)
    try:
        outcome = publisher.submit(principal, PublicationIn.model_validate(sample_policy()))
    finally:
        publisher.close()
    assert outcome.publication is not None
    assert outcome.body == Accepted(id=outcome.publication.id, version=1, status="pending",
                                    index_no=outcome.publication.index_no_text,
                                    links={"self": outcome.location, "status": outcome.location}).model_dump(mode="json")
    assert json.dumps(outcome.body) == outcome.accepted.model_dump_json().replace(",", ", ").replace(":", ": ")


def test_publisher_can_be_called_without_http(settings, store, bus):
    """The CLI (`govcast demo`) and other code submit through producers.publishing directly."""
    principal = Principal("prn_cli", "department", "CLI", CODE)
    data = PublicationIn.model_validate(sample_policy())
    outcome = Publisher(settings, store, bus).submit(principal, data, idempotency_key="k1")
    assert outcome.status_code == 202 and not outcome.replayed and outcome.publication is not None
    assert store.publication(outcome.accepted.id) == outcome.publication
    [event] = bus.events()
    assert event.subject == outcome.accepted.id
    again = Publisher(settings, store, bus).submit(principal, data, idempotency_key="k1")
    assert again.replayed and again.body == outcome.body
    assert Topics.publications == "govcast.publications"
