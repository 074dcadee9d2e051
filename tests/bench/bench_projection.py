"""Status projection per event, in process: govcast's StatusStore against bare sqlite3 statements.

What the pipeline's `status` route does for each publication delivered to one channel: a `delivering`
event carrying the publication (plan) and a `delivered` event (the adapter's outcome), applied in
batches of 50 as the route takes them from the log. The baseline is the least any projection must
write for the same events with the stdlib sqlite3 module on the same kind of file (WAL,
synchronous=FULL): one executemany into a timeline keyed by event id and one upsert per channel row,
one commit per batch. Rounds alternate between the two so both see the same machine load; medians
are printed, and CPU ms per event of the store alone (apply_status one at a time too).

    .venv/bin/python -m tests.bench.bench_projection [--events 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.normalize import normalize
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import IndexNo, Publication, PublicationIn
from tests.bench.results import record

BATCH = 50  # what the status route takes per store transaction
CODE = DEMO_DEPARTMENT["publisher_code"]
T0 = dt.datetime(2025, 3, 5, 1, 0, tzinfo=dt.UTC)


def publications(count: int, prefix: str) -> list[Publication]:
    fields = PublicationIn.model_validate(sample_policy(channels=["portal"]))
    return [normalize(fields, publication_id=f"pub_{prefix}{n:012d}", version=1, department=CODE,
                      index=IndexNo(code=CODE, year=2025, sequence=n + 1), submitted_at=T0) for n in range(count)]


def events(pubs: list[Publication]) -> list[tuple[str, StatusEvent]]:
    out: list[tuple[str, StatusEvent]] = []
    for p in pubs:
        out.append((f"{p.id}:1", StatusEvent(publication_id=p.id, version=1, channel="portal", at=T0,
                                             status=DeliveryStatus.delivering, detail="version 1 queued", publication=p)))
    for p in pubs:  # outcomes come later than the plan's events, as in the pipeline
        out.append((f"{p.id}:2", StatusEvent(publication_id=p.id, version=1, channel="portal", at=T0,
                                             status=DeliveryStatus.delivered, detail="ok", url=f"https://gov.test/{p.id}.html")))
    return out


def govcast_run(workdir: Path, count: int, prefix: str, *, batched: bool) -> tuple[float, float]:
    """(events/s, CPU ms per event) of StatusStore applying the events of `count` publications."""
    store = StatusStore(f"sqlite:///{workdir / f'{prefix}.db'}")
    try:
        pubs = publications(count, prefix)
        with store.transaction() as conn:  # the API committed the submissions before the pipeline saw them
            for p in pubs:
                store.upsert_publication(conn, p, "pending", ["portal"])
        todo = events(pubs)
        wall, cpu = time.perf_counter(), time.process_time()
        if batched:
            for k in range(0, len(todo), BATCH):
                store.apply_status_many(todo[k:k + BATCH])
        else:
            for event_id, ev in todo:
                store.apply_status(event_id, ev)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert store.publication_row(pubs[-1].id).status == "delivered"  # the work was really done
        return len(todo) / wall, cpu * 1000 / len(todo)
    finally:
        store.close()


def bare_run(workdir: Path, count: int, prefix: str) -> tuple[float, float]:
    db = sqlite3.connect(workdir / f"bare-{prefix}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE timeline (event_id TEXT PRIMARY KEY, publication_id TEXT, version INT, channel TEXT, "
               "status TEXT, detail TEXT, at TEXT)")
    db.execute("CREATE TABLE deliveries (publication_id TEXT, channel TEXT, version INT, status TEXT, detail TEXT, "
               "url TEXT, updated_at TEXT, PRIMARY KEY (publication_id, channel))")
    todo = events(publications(count, prefix))
    wall, cpu = time.perf_counter(), time.process_time()
    for k in range(0, len(todo), BATCH):
        rows = [(i, e.publication_id, e.version, e.channel, e.status.value, e.detail, e.url, e.at.isoformat())
                for i, e in todo[k:k + BATCH]]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO timeline VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       [r[:6] + r[7:] for r in rows])
        db.executemany("INSERT INTO deliveries VALUES (?,?,?,?,?,?,?) ON CONFLICT (publication_id, channel) DO UPDATE "
                       "SET version=excluded.version, status=excluded.status, detail=excluded.detail, "
                       "url=coalesce(excluded.url, url), updated_at=excluded.updated_at", [r[1:] for r in rows])
        db.execute("COMMIT")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    db.close()
    return len(todo) / wall, cpu * 1000 / len(todo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000, help="status events per round (two per publication)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = max(1, args.events // 2)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {2 * count} events per round",
          flush=True)
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "batched": [], "one": []}
    measures: dict[str, Callable[[Path, str], tuple[float, float]]] = {
        "bare": lambda d, p: bare_run(d, count, p),
        "batched": lambda d, p: govcast_run(d, count, p, batched=True),
        "one": lambda d, p: govcast_run(d, count, p, batched=False),
    }
    with tempfile.TemporaryDirectory(prefix="bench-projection-") as tmp:
        for n in range(args.rounds):
            for name, measure in measures.items():
                runs[name].append(measure(Path(tmp), f"{name}{n}"))
    med = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for name, rs in runs.items()}
    labels = {"bare": "bare sqlite3 (executemany, one commit per batch)", "batched": f"govcast, batches of {BATCH}",
              "one": "govcast, one event per transaction"}
    print(f"{'':48}{'events/s':>10}{'CPU ms/event':>14}")
    for name, (rate, cpu) in med.items():
        print(f"{labels[name]:48}{rate:10,.0f}{cpu:14.3f}")
    ratio = med["batched"][0] / med["bare"][0]
    print(f"ratio govcast (batches) / bare: {ratio:.2f}")
    record("projection", f"govcast, batches of {BATCH}", med["batched"][0], "events/s", baseline=med["bare"][0],
           baseline_name="bare sqlite3")
    record("projection", "govcast, one event per transaction", med["one"][0], "events/s", baseline=med["bare"][0],
           baseline_name="bare sqlite3")
    record("projection", "CPU per event, batches", med["batched"][1], "ms", baseline=med["bare"][1],
           baseline_name="bare sqlite3", target="≤ 0.5 ms (stream speed)", met=med["batched"][1] <= 0.5)


if __name__ == "__main__":
    main()
