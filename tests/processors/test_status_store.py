"""The status store on both backends: SQLite (one node) and PostgreSQL (many nodes sharing one view).

Every test runs against a fresh store on each backend (a SQLite file in tmp_path; a new schema
in the PostgreSQL of GOVCAST_TEST_PG_URL, see tests/store_backends.py). The concurrency tests
use real threads with their own connections, as several API and worker nodes would.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT, sample_policy
from persistence import audit
from persistence.engine import normalize_url, unique_violation
from persistence.store import ListFilter, Principal, StatusStore
from persistence.tables import tokens
from processors import wire
from processors.bus import Outbound
from processors.normalize import normalize
from producers.errors import Conflict, Invalid
from producers.publishing import Outcome, Publisher
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import IndexNo, Publication, PublicationIn
from settings import Settings
from tests.store_backends import BACKENDS, backend_url

DEPT = DEMO_DEPARTMENT["publisher_code"]
OTHER = OTHER_DEPARTMENT["publisher_code"]
CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 5, 9, 0, tzinfo=CST)
CHANNELS = ("portal", "wechat", "weibo")
S = DeliveryStatus


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with backend_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[StatusStore]:
    s = StatusStore(store_url)
    yield s
    s.close()


# -- helpers ------------------------------------------------------------------
def pub(n: int = 1, *, version: int = 1, department: str = DEPT, channels: tuple[str, ...] = CHANNELS,
        publish_at: dt.datetime | None = None, **fields: Any) -> Publication:
    data = sample_policy(publisher_code=department, channels=list(channels),
                         publish_at=publish_at.isoformat() if publish_at else None, **fields)
    return normalize(PublicationIn.model_validate(data), publication_id=f"pub_{n:020d}", version=version,
                     department=department, index=IndexNo(code=department, year=2025, sequence=n), submitted_at=T0)


def record(store: StatusStore, p: Publication, status: str = "pending") -> None:
    with store.transaction() as conn:
        store.upsert_publication(conn, p, status, list(p.channels or []))


def event(p: Publication, channel: str | None, status: DeliveryStatus, *, version: int | None = None,
          url: str | None = None, publication: Publication | None = None, detail: str | None = None) -> StatusEvent:
    return StatusEvent(publication_id=p.id, version=p.version if version is None else version, channel=channel,
                       status=status, url=url, detail=detail, at=dt.datetime.now(dt.UTC), publication=publication)


def status_of(store: StatusStore, publication_id: str) -> str:
    return str(store.publication_row(publication_id).status)


def snapshot(store: StatusStore, publication_id: str) -> tuple[Any, ...]:
    row = store.publication_row(publication_id)
    return row.status, row.version, row.doc, store.deliveries_of(publication_id), store.timeline_of(publication_id)


def in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) in n threads released together; their results (an exception is re-raised)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


# -- the status projection -----------------------------------------------------
def test_a_batch_applies_like_one_event_at_a_time(store: StatusStore, store_url: str, tmp_path: Path) -> None:
    p, q = pub(1, channels=("portal", "wechat")), pub(2, channels=("portal",))
    events = [
        ("b-1", event(p, "portal", S.delivering)),
        ("b-2", event(q, "portal", S.delivered, url="https://www.example.gov.cn/q.html")),
        ("b-3", event(p, "portal", S.delivered, url="https://www.example.gov.cn/p.html")),
        ("b-1", event(p, "portal", S.failed)),  # a replayed id inside the batch
        ("b-4", event(p, "wechat", S.failed, detail="invalid media")),
        ("b-5", event(q, None, S.retracted)),  # a whole-publication event between channel events of q
        ("b-6", event(q, "portal", S.retracted)),
    ]
    for x in (p, q):
        record(store, x)
    assert store.apply_status_many(events) == [True, True, True, False, True, True, True]
    one_by_one = StatusStore(f"sqlite:///{tmp_path / 'single.db'}")
    for x in (p, q):
        record(one_by_one, x)
    assert [one_by_one.apply_status(i, e) for i, e in events] == [True, True, True, False, True, True, True]
    for x in (p, q):
        assert snapshot(store, x.id) == snapshot(one_by_one, x.id)
    assert status_of(store, p.id) == "partially_delivered" and status_of(store, q.id) == "retracted"
    one_by_one.close()


def test_a_replayed_event_id_changes_nothing(store: StatusStore) -> None:
    p = pub()
    record(store, p)
    events = [
        ("ev-1", event(p, "portal", S.delivering)),
        ("ev-2", event(p, "portal", S.delivered, url="https://www.example.gov.cn/a.html")),
        ("ev-3", event(p, "wechat", S.failed, detail="invalid media")),
    ]
    assert [store.apply_status(i, e) for i, e in events] == [True, True, True]
    before = snapshot(store, p.id)
    # The status topic replayed after a crash, in any order, even with a different body under a known id.
    assert [store.apply_status(i, e) for i, e in reversed(events)] == [False, False, False]
    assert not store.apply_status("ev-2", event(p, "portal", S.failed))
    assert snapshot(store, p.id) == before
    timeline = store.timeline_of(p.id)
    assert [(t["channel"], t["status"]) for t in timeline] == [("portal", "delivering"), ("portal", "delivered"), ("wechat", "failed")]
    assert store.deliveries_of(p.id)["portal"]["url"] == "https://www.example.gov.cn/a.html"


def test_concurrent_copies_of_one_event_are_applied_once(store: StatusStore) -> None:
    p = pub()
    record(store, p)
    applied = in_threads(6, lambda _: store.apply_status("ev-dup", event(p, "portal", S.delivered)))
    assert sorted(applied) == [False] * 5 + [True]
    assert len(store.timeline_of(p.id)) == 1


def test_an_older_version_never_overwrites_a_newer_one(store: StatusStore) -> None:
    v1 = pub(version=1, channels=("portal", "wechat"))
    v2 = pub(version=2, channels=("portal", "wechat"), title="济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知（修订）")
    record(store, v1)
    record(store, v2)
    record(store, v1)  # a late writer with the old version
    assert store.publication(v1.id) == v2

    assert store.apply_status("a", event(v2, "portal", S.delivered, url="https://portal/v2.html"))
    assert store.apply_status("b", event(v1, "portal", S.failed, url="https://portal/v1.html"))  # late report of v1
    assert store.apply_status("c", event(v1, None, S.held))
    assert store.apply_status("d", event(v1, "wechat", S.delivered, publication=v1))  # carries the old copy
    portal = store.deliveries_of(v1.id)["portal"]
    assert (portal["version"], portal["status"], portal["url"]) == (2, "delivered", "https://portal/v2.html")
    assert store.publication(v1.id) == v2
    # Only channels at the current version count: v1's wechat report does not make v2 delivered there,
    # so v2's wechat delivery is still to come.
    assert status_of(store, v1.id) == "delivering"
    assert store.apply_status("e", event(v2, "wechat", S.failed))
    assert status_of(store, v1.id) == "partially_delivered"


@pytest.mark.parametrize(("outcomes", "expected"), [
    ({"portal": S.delivered, "wechat": S.delivered, "weibo": S.delivered}, "delivered"),
    ({"portal": S.delivered, "wechat": S.failed, "weibo": S.dead}, "partially_delivered"),
    ({"portal": S.failed, "wechat": S.dead, "weibo": S.failed}, "failed"),
    ({"portal": S.delivered, "wechat": S.retrying, "weibo": S.delivering}, "retrying"),
    ({"portal": S.delivered, "wechat": S.delivering}, "delivering"),
])
def test_overall_status_is_derived_from_the_channels(store: StatusStore, outcomes: dict[str, S], expected: str) -> None:
    p = pub()
    record(store, p)
    for channel in CHANNELS:
        store.apply_status(f"queued-{channel}", event(p, channel, S.delivering, publication=p))
    assert status_of(store, p.id) == "delivering"
    for channel, outcome in outcomes.items():
        store.apply_status(f"{outcome}-{channel}", event(p, channel, outcome))
    assert status_of(store, p.id) == expected
    assert store.counts_by_status() == {expected: 1}


def test_a_target_channel_not_reported_yet_keeps_the_publication_delivering(store: StatusStore) -> None:
    # The plan's `delivering` status reaches the store with each delivery's outcome (one Kafka message):
    # until weibo's arrives, the portal's and wechat's outcomes must not make the publication look done.
    p = pub()
    record(store, p)
    store.apply_status_many([("q-portal", event(p, "portal", S.delivering)), ("d-portal", event(p, "portal", S.delivered))])
    store.apply_status("d-wechat", event(p, "wechat", S.delivered))
    assert status_of(store, p.id) == "delivering"
    store.apply_status("d-weibo", event(p, "weibo", S.delivered))
    assert status_of(store, p.id) == "delivered"


def test_a_retraction_ends_as_retracted_once_every_channel_withdrew(store: StatusStore) -> None:
    p = pub()
    record(store, p)
    for channel in CHANNELS:
        store.apply_status(f"done-{channel}", event(p, channel, S.delivered))
    assert status_of(store, p.id) == "delivered"
    withdrawn = p.model_copy(update={"retracted": True, "retract_reason": "内容有误"})
    with store.transaction() as conn:
        assert store.compare_and_set_publication(conn, withdrawn, "retracting", list(CHANNELS), expected_version=1)
    store.apply_status("r-portal", event(p, "portal", S.retracted))
    store.apply_status("r-wechat", event(p, "wechat", S.failed))
    assert status_of(store, p.id) == "retracting"
    store.apply_status("r-weibo", event(p, "weibo", S.retracted))
    assert status_of(store, p.id) == "retracted"


def test_concurrent_channel_reports_all_count_in_the_overall_status(store: StatusStore) -> None:
    # Workers on several nodes report the channels of one publication at the same moment.
    outcomes = {"portal": S.delivered, "wechat": S.failed, "weibo": S.delivered}
    items = [pub(n) for n in range(1, 9)]
    for p in items:
        record(store, p)
        for channel in CHANNELS:
            store.apply_status(f"q-{p.id}-{channel}", event(p, channel, S.delivering))
    jobs = [(p, channel) for p in items for channel in CHANNELS]
    in_threads(len(jobs), lambda i: store.apply_status(f"o-{i}", event(jobs[i][0], jobs[i][1], outcomes[jobs[i][1]])))
    assert {status_of(store, p.id) for p in items} == {"partially_delivered"}


def test_lanes_projecting_batches_that_share_publications_neither_deadlock_nor_lose_a_channel(store: StatusStore) -> None:
    # The Kafka host's delivery lanes (one per channel and partition, on any worker) each apply their run's
    # statuses as one batch, so batches of different channels lock the same publications at the same time.
    # Each lane here walks the publications in its own order (one forwards, one backwards, one shuffled):
    # were rows locked in the order given, PostgreSQL would find a lock cycle and abort a batch.
    outcomes = {"portal": S.delivered, "wechat": S.failed, "weibo": S.delivered}
    items = [pub(n) for n in range(1, 25)]
    for p in items:
        record(store, p)
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    orders = {"portal": items, "wechat": items[::-1], "weibo": shuffled}

    def lane(i: int) -> None:
        channel = CHANNELS[i % len(CHANNELS)]
        for start in range(0, len(items), 8):
            run = orders[channel][start:start + 8]
            queued = [(f"q-{p.id}-{channel}", event(p, channel, S.delivering)) for p in run]
            done = [(f"o-{p.id}-{channel}", event(p, channel, outcomes[channel])) for p in run]
            store.apply_status_many(queued + done)

    in_threads(2 * len(CHANNELS), lane)  # two lanes per channel: the second one's batches are all replays
    for p in items:
        deliveries = {channel: row["status"] for channel, row in store.deliveries_of(p.id).items()}
        assert deliveries == {c: outcomes[c] for c in CHANNELS}, (p.id, deliveries)
        assert status_of(store, p.id) == "partially_delivered"
        assert len([e for e in store.timeline_of(p.id) if e["channel"] is not None]) == 2 * len(CHANNELS)  # once each


def test_the_record_survives_an_event_carrying_an_older_copy(store: StatusStore) -> None:
    p = pub()
    record(store, p)
    withdrawn = p.model_copy(update={"retracted": True, "retract_reason": "内容有误"})
    with store.transaction() as conn:
        assert store.compare_and_set_publication(conn, withdrawn, "retracting", list(CHANNELS), expected_version=1)
    # A delivery report still carrying the copy from before the retraction: no resurrection.
    assert store.apply_status("late", event(p, "portal", S.delivered, publication=p))
    assert store.apply_status("later", event(p, None, S.pending, publication=pub(version=2)))
    record(store, p)
    record(store, pub(version=3))
    kept = store.publication(p.id)
    assert kept is not None and kept.retracted and kept.retract_reason == "内容有误" and kept.version == 1
    row = store.publication_row(p.id)
    assert row.retracted and row.version == 1 and row.status == "retracting"

    # A status event for a publication the store has not seen (API crashed before its commit) records it.
    fresh = pub(2)
    assert store.apply_status("new", event(fresh, "portal", S.delivering, publication=fresh))
    assert store.publication(fresh.id) == fresh and status_of(store, fresh.id) == "delivering"


# -- publications --------------------------------------------------------------
def test_index_sequences_are_allocated_uniquely_under_concurrency(store: StatusStore) -> None:
    def allocate(_: int) -> list[int]:
        numbers = []
        for _ in range(25):
            with store.transaction() as conn:
                numbers.append(store.next_index_sequence(conn, DEPT, 2025))
        return numbers

    allocated = [n for numbers in in_threads(8, allocate) for n in numbers]
    assert sorted(allocated) == list(range(1, 201))
    with store.transaction() as conn:
        assert store.next_index_sequence(conn, DEPT, 2026) == 1
        assert store.next_index_sequence(conn, OTHER, 2025) == 1
        assert store.next_index_sequence(conn, DEPT, 2025) == 201


def test_an_index_no_belongs_to_one_publication(store: StatusStore) -> None:
    record(store, pub(1))
    twin = pub(1).model_copy(update={"id": "pub_twin"})
    with pytest.raises(IntegrityError) as caught:
        record(store, twin)
    assert unique_violation(caught.value)
    assert store.publication("pub_twin") is None


def test_compare_and_set_lets_exactly_one_of_two_writers_win(store: StatusStore) -> None:
    p = pub()
    record(store, p)
    first, second = (p.model_copy(update={"version": 2, "summary": s}) for s in ("甲", "乙"))
    holding, results = threading.Event(), {}

    def rival() -> None:
        holding.wait()
        with store.transaction() as conn:  # waits for the first writer's transaction on both backends
            results["second"] = store.compare_and_set_publication(conn, second, "pending", ["portal"], expected_version=1)

    thread = threading.Thread(target=rival)
    thread.start()
    with store.transaction() as conn:
        results["first"] = store.compare_and_set_publication(conn, first, "pending", ["portal"], expected_version=1)
        holding.set()
        time.sleep(0.3)  # the rival is now blocked behind this open transaction
    thread.join(timeout=60)
    assert results == {"first": True, "second": False}
    assert store.publication(p.id) == first

    for version in (3, 4, 5):  # writers released together: one wins each round
        wins = in_threads(4, lambda i, v=version: _cas(store, p.model_copy(update={"version": v, "summary": f"{v}/{i}"}), v - 1))
        assert sorted(wins) == [False, False, False, True]
    assert store.publication_row(p.id).version == 5

    retracted = p.model_copy(update={"version": 5, "retracted": True})
    assert _cas(store, retracted, 5)
    assert not _cas(store, p.model_copy(update={"version": 6}), 5)  # a retracted record takes no revision


def _cas(store: StatusStore, p: Publication, expected: int) -> bool:
    with store.transaction() as conn:
        return store.compare_and_set_publication(conn, p, "pending", ["portal"], expected_version=expected)


def test_list_filters_and_pagination(store: StatusStore) -> None:
    made = []
    for n in range(1, 13):
        department = DEPT if n <= 8 else OTHER
        p = pub(n, department=department, kind="notice" if n % 2 else "policy",
                channels=("portal",) if n % 3 else ("portal", "wechat"))
        record(store, p, "delivered" if n % 4 == 0 else "pending")
        made.append(p.id)
        if n == 6:
            time.sleep(0.01)
            middle = dt.datetime.now(dt.UTC).astimezone(CST)  # any zone: compared as instants
            time.sleep(0.01)
    newest_first = made[::-1]

    def ids(**flt: Any) -> tuple[int, list[str]]:
        total, rows = store.list_publications(ListFilter(**flt))
        return total, [r.id for r in rows]

    pages = [ids(limit=5, offset=o) for o in (0, 5, 10, 15)]
    assert [t for t, _ in pages] == [12] * 4
    assert [i for _, page in pages for i in page] == newest_first and pages[-1][1] == []
    assert ids(department=OTHER) == (4, newest_first[:4])
    assert ids(department=DEPT, kind="notice") == (4, [f"pub_{n:020d}" for n in (7, 5, 3, 1)])
    assert ids(status="delivered") == (3, [f"pub_{n:020d}" for n in (12, 8, 4)])
    assert ids(channel="wechat") == (4, [f"pub_{n:020d}" for n in (12, 9, 6, 3)])
    assert ids(channel="%") == (0, [])
    assert ids(since=middle) == (6, newest_first[:6])
    assert ids(until=middle, limit=4, offset=4) == (6, newest_first[10:])
    row = store.list_publications(ListFilter(limit=1))[1][0]
    assert row.created_at.utcoffset() == dt.timedelta(0)


def test_due_for_release_and_times_round_trip_with_their_zone(store: StatusStore) -> None:
    now = dt.datetime(2025, 3, 5, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
    due = pub(1, publish_at=dt.datetime(2025, 3, 5, 9, 0, tzinfo=CST))  # 01:00 UTC: due
    later = pub(2, publish_at=dt.datetime(2025, 3, 5, 11, 0, tzinfo=CST))
    withdrawn = pub(3, publish_at=T0).model_copy(update={"retracted": True})
    released = pub(4, publish_at=T0)
    for p in (due, later, withdrawn):
        record(store, p, "scheduled")
    record(store, released, "pending")

    found = store.due_for_release(now)
    assert [p.id for p in found] == [due.id] and found[0] == due
    stored = store.publication_row(due.id).publish_at
    assert stored == due.publish_at and stored.utcoffset() == dt.timedelta(0)
    assert [p.id for p in store.due_for_release(now + dt.timedelta(hours=1))] == [due.id, later.id]

    store.mark_released(due.id, version=2)  # a version that is not the stored one: nothing happens
    assert [p.id for p in store.due_for_release(now)] == [due.id]
    store.mark_released(due.id, version=1)
    assert store.due_for_release(now) == []
    row = store.publication_row(due.id)
    assert (row.status, row.released_version) == ("pending", 1)

    at = dt.datetime(2025, 3, 5, 10, 30, 15, 123456, tzinfo=CST)
    store.apply_status("t", StatusEvent(publication_id=due.id, version=1, channel="portal", status=S.delivered, at=at))
    assert store.timeline_of(due.id)[0]["at"] == at and store.deliveries_of(due.id)["portal"]["updated_at"] == at


def test_token_lookup_by_hash(store: StatusStore) -> None:
    dept = Principal("prn_dept", "department", "市政府办公厅", DEPT)
    oper = Principal("prn_oper", "operator", "值班员", None)
    store.add_token(dept, "a" * 64)
    store.add_token(oper, "b" * 64)
    assert store.principal_for("a" * 64) == dept
    assert store.principal_for("b" * 64) == oper
    assert store.principal_for("c" * 64) is None
    assert store.count_tokens() == 2
    with pytest.raises(IntegrityError):
        store.add_token(Principal("prn_copy", "operator", "x", None), "a" * 64)
    with store.transaction() as conn:
        conn.execute(update(tokens).where(tokens.c.id == "prn_dept").values(revoked=True))
    assert store.principal_for("a" * 64) is None


def test_an_idempotency_key_is_claimed_by_one_request_at_a_time(store: StatusStore) -> None:
    # Two API nodes get the same key at once: the second waits for the first's answer instead of both acting.
    def request(i: int) -> str:
        with store.transaction() as conn:
            answer = store.idempotent_answer(conn, "prn_dept", "key-1")
            if answer is not None:
                return f"replayed {answer[2]['by']}"
            time.sleep(0.2)
            store.remember_answer(conn, "prn_dept", "key-1", "hash", 202, {"by": i})
            return "acted"

    results = in_threads(4, request)
    assert sorted(results)[0] == "acted" and len(set(results)) == 2 and results.count("acted") == 1
    with store.transaction() as conn:
        assert store.idempotent_answer(conn, "prn_dept", "key-2") is None


# -- the API's transaction on this backend -----------------------------------------
class MemoryBus:
    """TEST DOUBLE of the bus: keeps what was sent (the store is the subject here, not the bus)."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self._lock = threading.Lock()

    def send(self, messages: list[Outbound]) -> None:
        with self._lock:
            self.sent.extend(messages)

    def close(self) -> None:
        pass


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def publisher(store: StatusStore, bus: MemoryBus, tmp_path: Path) -> Iterator[Publisher]:
    p = Publisher(Settings(data_dir=tmp_path, channels=["portal"]), store, bus)
    yield p
    p.close()  # its relay thread (PostgreSQL) must not outlive the test's schema


DEPARTMENT = Principal("prn_dept", "department", DEMO_DEPARTMENT["name"], DEPT)


def test_concurrent_submits_of_one_explicit_index_no_give_one_202_and_409s(publisher: Publisher, bus: MemoryBus) -> None:
    data = PublicationIn.model_validate(sample_policy(index_no=f"{DEPT}/2025-00042"))

    def submit(_: int) -> Outcome | Conflict:
        try:
            return publisher.submit(DEPARTMENT, data)
        except Conflict as exc:
            return exc

    results = in_threads(6, submit)
    accepted = [r for r in results if isinstance(r, Outcome)]
    assert len(accepted) == 1 and accepted[0].status_code == 202
    assert all(isinstance(r, Conflict) and r.status == 409 for r in results if r is not accepted[0])
    publisher.relay.drain()  # on PostgreSQL the relay sends from its own thread, after the 202
    assert len(bus.sent) == 1


def test_concurrent_submits_with_one_idempotency_key_make_one_publication(publisher: Publisher, bus: MemoryBus) -> None:
    data = PublicationIn.model_validate(sample_policy())
    results = in_threads(6, lambda _: publisher.submit(DEPARTMENT, data, idempotency_key="once"))
    assert len({r.accepted.id for r in results}) == 1 and len({r.accepted.index_no for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 5
    publisher.relay.drain()  # on PostgreSQL the relay sends from its own thread, after the 202
    assert len(bus.sent) == 1
    index = IndexNo.parse(results[0].accepted.index_no)  # no number was used up by the requests that waited
    with publisher.store.transaction() as conn:
        assert (index.sequence, publisher.store.next_index_sequence(conn, DEPT, index.year)) == (1, 2)


# -- URLs ------------------------------------------------------------------------------
def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert normalize_url("postgres://u:p@db:5432/govcast") == "postgresql+psycopg://u:p@db:5432/govcast"
    assert normalize_url("postgresql://u@db/govcast") == "postgresql+psycopg://u@db/govcast"
    assert normalize_url("postgresql+psycopg://u@db/govcast") == "postgresql+psycopg://u@db/govcast"
    assert normalize_url("sqlite:///x/status.db") == "sqlite:///x/status.db"
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        StatusStore("mysql://u@db/govcast")


def test_two_api_processes_submitting_in_batches_give_every_number_once_and_leave_no_gap(
        publisher: Publisher, store: StatusStore, bus: MemoryBus, tmp_path: Path) -> None:
    """Each batch allocates its 索引号 in one go at its end; numbers a department sent are skipped, refused
    requests use none, and two processes' batches never hand out one number twice."""
    second = Publisher(Settings(data_dir=tmp_path, channels=["portal"]), store, bus)  # another API process
    year = IndexNo.parse(publisher.submit(DEPARTMENT, PublicationIn.model_validate(sample_policy())).accepted.index_no).year
    publisher.submit(DEPARTMENT, PublicationIn.model_validate(sample_policy(index_no=f"{DEPT}/{year}-00005")))

    def submit(n: int) -> str:
        data = sample_policy(title=f"并发提交 {n}")
        if n % 7 == 3:
            data["category"] = "没有这个分类"  # refused (422) in the middle of a batch
        try:
            return (publisher if n % 2 else second).submit(DEPARTMENT, PublicationIn.model_validate(data)).accepted.index_no
        except Invalid:
            return "refused"

    results = in_threads(40, submit)
    numbers = sorted(IndexNo.parse(r).sequence for r in results if r != "refused")
    assert results.count("refused") == 6
    assert numbers == [n for n in range(2, 37) if n != 5]  # 1 and 5 were given before; none twice, none skipped
    publisher.relay.drain()
    second.relay.drain()
    # Every accepted submission's message is on the bus (on SQLite two relays may both send a row: consumers
    # drop repeats by event id, the embedded log does itself).
    assert len({m.event.id for m in bus.sent}) == 2 + 34
    second.close()
    verdict = audit.verify(store.engine)
    assert verdict.intact and verdict.entries == 36


def test_a_submission_numbered_at_the_end_of_its_batch_carries_its_number_in_every_row_and_the_answer(
        publisher: Publisher, store: StatusStore, bus: MemoryBus) -> None:
    """On PostgreSQL submissions without a key are built with a stand-in 索引号 and numbered at their batch's end:
    the answer, the stored row and document, the bus event, the audit entry and the process's remembered JSON
    form of the publication all carry the one real number (on SQLite, numbered in the batch, the same holds)."""
    def submit(n: int) -> Outcome:
        return publisher.submit(DEPARTMENT, PublicationIn.model_validate(sample_policy(title=f"批末编号 {n}")))

    outcomes = in_threads(12, submit)
    publisher.relay.drain()
    events = {m.key: m.event for m in bus.sent}
    numbers = set()
    for outcome in outcomes:
        number = outcome.accepted.index_no
        numbers.add(number)
        row = store.publication_row(outcome.accepted.id)
        stored = Publication.model_validate_json(row.doc)
        sent = Publication.model_validate(events[outcome.accepted.id].data)
        assert row.index_no == stored.index_no == stored.index_no_text == number
        assert sent.index_no == sent.index_no_text == number
        assert outcome.publication is not None and outcome.publication.index_no_text == number
        assert wire.publications.dumped(outcome.publication)["index_no"] == number
        [entry] = audit.entries(store.engine, audit.AuditFilter(target=outcome.accepted.id))
        assert entry["detail"]["index_no"] == number
    assert sorted(IndexNo.parse(n).sequence for n in numbers) == list(range(1, 13))
