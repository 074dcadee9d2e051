"""The embedded SQLite log behaves like a partitioned, durable log with consumer offsets."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from processors.bus import Outbound
from processors.embedded.log import SqliteLog, partition_for
from schemas.events import new_event


def msg(topic: str, key: str, n: int) -> Outbound:
    return Outbound(topic, key, new_event("test.event", "/test", key, {"n": n}))


def read_all(log: SqliteLog, group: str, topic: str) -> list[tuple[int, str, int]]:
    out = []
    for part in range(log.ensure_topic(topic)):
        out += [(r.partition, r.key, r.event.data["n"]) for r in log.fetch(group, topic, part, 10_000)]
    return out


def test_same_key_same_partition_in_order(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db", default_partitions=4)
    log.send([msg("t", f"k{i % 3}", i) for i in range(30)])
    records = read_all(log, "g", "t")
    assert len(records) == 30
    for key in ("k0", "k1", "k2"):
        mine = [(p, n) for p, k, n in records if k == key]
        assert {p for p, _ in mine} == {partition_for(key, 4)}
        assert [n for _, n in mine] == sorted(n for _, n in mine)


def test_listeners_hear_of_the_partitions_appended_to_after_each_commit(tmp_path: Path) -> None:
    """The embedded host wakes only the consumers of partitions that got messages: an append, a consumer's commit of
    its outputs and a relayed send each name exactly the partitions they wrote, per topic."""
    log = SqliteLog(tmp_path / "bus.db", default_partitions=4)
    heard: list[tuple[str, frozenset[int] | None]] = []
    log.add_listener(lambda topic, partitions: heard.append((topic, partitions)))
    keys = [k for k in (f"k{i}" for i in range(50)) if partition_for(k, 4) in (1, 3)][:4]
    log.send([msg("t", key, n) for n, key in enumerate(keys)])
    assert heard == [("t", frozenset({1, 3}))]
    heard.clear()
    first = log.fetch("g", "t", partition_for(keys[0], 4))[0]
    log.commit("g", first, [msg("u", keys[0], 9), msg("t", keys[1], 10)])
    assert sorted(heard, key=lambda h: h[0]) == [("t", frozenset({partition_for(keys[1], 4)})),
                                                 ("u", frozenset({partition_for(keys[0], 4)}))]
    heard.clear()
    log.commit("g", first, [])  # nothing appended: nobody to wake
    log.notify_appended("t")  # another process appended (its nudge names the topic): every partition
    assert heard == [("t", None)]


def test_messages_and_offsets_survive_reopen(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db")
    log.send([msg("t", "a", 1), msg("t", "a", 2)])
    part = partition_for("a", 4)
    first = log.fetch("g", "t", part)[0]
    log.commit("g", first, [])
    log.close()
    reopened = SqliteLog(tmp_path / "bus.db")
    assert [r.event.data["n"] for r in reopened.fetch("g", "t", part)] == [2]
    assert [r.event.data["n"] for r in reopened.fetch("other-group", "t", part)] == [1, 2]


def test_commit_appends_outputs_and_advances_offset_atomically(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db")
    log.send([msg("in", "a", 1)])
    record = log.fetch("g", "in", partition_for("a", 4))[0]

    class Boom(Exception):
        pass

    original = log._append

    def failing_append(conn, messages):  # type: ignore[no-untyped-def]
        original(conn, messages)
        raise Boom()

    log._append = failing_append  # type: ignore[method-assign]
    with contextlib.suppress(Boom):
        log.commit("g", record, [msg("out", "a", 10)])
    log._append = original  # type: ignore[method-assign]
    assert read_all(log, "x", "out") == []  # output rolled back ...
    assert log.lag("g", "in") == 1  # ... and the input is still unconsumed
    log.commit("g", record, [msg("out", "a", 10)])
    assert [n for _, _, n in read_all(log, "x", "out")] == [10]
    assert log.lag("g", "in") == 0


def test_concurrent_producers_lose_nothing(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db")

    def produce(worker: int) -> None:
        for i in range(50):
            log.send([msg("t", f"w{worker}-{i}", worker * 1000 + i)])

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = sorted(n for _, _, n in read_all(log, "g", "t"))
    assert values == sorted(w * 1000 + i for w in range(4) for i in range(50))


def test_prune_keeps_what_a_group_has_not_consumed(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db", default_partitions=1)
    log.send([msg("t", "a", i) for i in range(5)])
    records = log.fetch("fast", "t", 0)
    for r in records:
        log.commit("fast", r, [])
    log.commit("slow", records[1], [])
    assert log.prune({"t": ["fast", "slow"]}) == 2
    assert [r.event.data["n"] for r in log.fetch("slow", "t", 0)] == [2, 3, 4]
    assert log.lag("slow", "t") == 3


def synchronous_mode(log: SqliteLog) -> int:
    """This thread's connection's `PRAGMA synchronous`: 2 FULL (fsync at commit), 1 NORMAL."""
    return int(log._conn().execute("PRAGMA synchronous").fetchone()[0])


def test_producers_appends_are_flushed_and_consumer_commits_are_not(tmp_path: Path) -> None:
    """The outbox relay deletes its rows from the status store once `send_once` returns, and the scheduler marks
    a release done after `send`: their appends must be on disk by then (FULL). A consumer's commit may skip the
    fsync (NORMAL): a power loss takes its outputs and offset back together, and the hop is redone."""
    log = SqliteLog(tmp_path / "bus.db")
    log.send([msg("in", "a", 1)])
    assert synchronous_mode(log) == 2
    record = log.fetch("g", "in", partition_for("a", 4))[0]
    log.commit("g", record, [msg("out", "a", 2)])
    assert synchronous_mode(log) == 1
    assert log.send_once([msg("in", "b", 3)]) == 1  # the same thread relays next: flushed again
    assert synchronous_mode(log) == 2
    log.commit("g", record, [])
    log.send([msg("in", "c", 4)])
    assert synchronous_mode(log) == 2
    log.close()
    reopened = SqliteLog(tmp_path / "bus.db")
    assert [r.event.data["n"] for r in reopened.fetch("h", "out", partition_for("a", 4))] == [2]


def test_a_consumer_takes_this_processs_appended_event_once_and_decodes_the_rest(tmp_path: Path) -> None:
    """Events this process appended reach their consumer without being parsed again (SqliteLog._recent), equal to
    what decoding their stored bytes gives; a second fetch, and bytes another process appended, are decoded."""
    log = SqliteLog(tmp_path / "bus.db", default_partitions=1)
    other = SqliteLog(tmp_path / "bus.db", default_partitions=1)  # another process's log on the same file
    sent = new_event("test.in", "/t", "k", {"n": 1, "none": None, "nested": {"list": [1, "二", None]}})
    log.send([Outbound("t", "k", sent)])
    other.send([Outbound("t", "k", new_event("test.in", "/t", "k", {"n": 2}))])

    first = log.fetch("g", "t", 0)
    assert [r.event.data["n"] for r in first] == [1, 2]
    assert first[0].event is sent  # taken as appended
    decoded = type(sent).from_json(sent.to_json())
    assert first[0].event.model_dump() == decoded.model_dump()  # what decoding would have given
    again = log.fetch("g", "t", 0)  # fetched again (nothing committed): decoded from the stored bytes
    assert again[0].event is not sent and again[0].event.model_dump() == decoded.model_dump()
    log.close()
    other.close()


def test_commit_and_fetch_commits_then_returns_what_follows(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db", default_partitions=1)
    log.send([msg("in", "a", n) for n in range(5)])
    first_two = log.fetch("g", "in", 0, 2)
    rest = log.commit_and_fetch("g", first_two[-1], [msg("out", "a", 9)], 10)
    assert [r.event.data["n"] for r in rest] == [2, 3, 4]
    assert log.committed("g", "in", 0) == 2
    assert [r.event.data["n"] for r in log.fetch("h", "out", 0)] == [9]
    assert log.commit_and_fetch("g", rest[-1], [], 10) == []  # caught up: the commit alone (one statement)
    assert log.committed("g", "in", 0) == 5
