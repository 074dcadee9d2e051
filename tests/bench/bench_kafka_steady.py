"""Benchmark: Kafka submit → delivered latency under a steady stream of submissions, A/B of worker code trees.

Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_kafka_steady [--rate 300] [--count 1500] [--pairs 3] [--partitions 4]
                                                       [--compare DIR]

bench_kafka.py's latency mode submits one publication at a time and its throughput mode pre-produces a backlog;
neither shows what a steady moderate load does, which is where faust's fetch long-poll hurts: once a fetched
partition's records wait in aiokafka's buffer for more than 100 ms (faust hands a fetched batch to its streams one
message at a time, at the pace of the processing), aiokafka fetches the *idle* partitions alone, a long poll of
faust's hard-coded 1,500 ms, and the busy partitions are not fetched again until it returns (issue 16;
docs/benchmarks-notes.md).

On a private broker (as bench_kafka.py) it starts one null-channel worker (bench_kafka's `--worker-helper`), waits
until it holds govcast.publications, then produces `--count` publication.submitted events at `--rate` per second
(one producer, acks=all, each sent at its due time), and reads each publication's `delivered` time from the
status store's timeline: latency = delivered − the moment its event was handed to the producer, both on this
machine's clock. The first second of submissions is dropped (warm-up). Prints p50/p90/p99/max and the worker's
CPU per publication. With `--compare DIR` each pair runs the worker from DIR first, then from this tree, with
the same broker in the same minute (`DIR` e.g. `git archive main | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from processors.kafka_bus import HEADERS
from schemas.events import Topics
from tests.bench import bench_kafka as kb

ROOT = Path(__file__).resolve().parents[2]


async def steady(bootstrap: str, items: list[tuple[bytes, bytes]], rate: float) -> dict[str, float]:
    """Produce `items` at `rate` per second; when (wall clock) each publication's event went to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        start, futures = time.monotonic(), []
        for n, (key, value) in enumerate(items):
            if (delay := start + n / rate - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            sent[key.decode()] = time.time()
            futures.append(await producer.send(Topics.publications, value, key=key, headers=HEADERS))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def one_run(broker: kb.Broker, root: Path, rate: float, count: int, workdir: Path, tag: str) -> str:
    kafka = broker.kafka
    assert kafka is not None
    kb.skip_to_end(kafka)
    data_dir = workdir / tag
    data_dir.mkdir(parents=True)
    pubs = kb.publications(count, tag)
    db = data_dir / "status.db"
    kb.record_submissions(db, pubs)
    items = kb.payloads(pubs)
    log_path = workdir / f"{tag}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.bench.bench_kafka", "--worker-helper", str(data_dir),
                                 kafka.url, "null", ""], stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while "Kafka pipeline ready" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.05)
        kb.wait_until_settled([(proc, log_path)], broker.partitions)
        cpu = kb.cpu_seconds(proc.pid)
        sent = asyncio.run(steady(kafka.bootstrap, items, rate))
        deadline = time.monotonic() + kb.THROUGHPUT_TIMEOUT
        while kb.delivered_count(db) < count and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        cpu = kb.cpu_seconds(proc.pid) - cpu
    finally:
        kb.stop_process(proc)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT publication_id, MIN(at) FROM timeline WHERE status = 'delivered' "
                            "GROUP BY publication_id").fetchall()
    by_sent = sorted((sent[pid], (kb.aware(at).timestamp() - sent[pid]) * 1000) for pid, at in rows if pid in sent)
    warm = int(rate)  # the first second's submissions: the worker's first fetches and JIT-less broker paths
    lat = sorted(ms for _, ms in by_sent[warm:]) or [float("nan")]
    q = [kb.percentile(lat, p) for p in (0.5, 0.9, 0.99)]
    where = "" if root == ROOT else f" [{root.name}]"
    return (f"{tag}{where}: {len(rows)}/{count} delivered, p50 {q[0]:.1f} p90 {q[1]:.1f} p99 {q[2]:.1f} "
            f"max {lat[-1]:.1f} ms; worker CPU {cpu / count * 1000:.2f} ms/publication")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="submissions per second")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--compare", type=Path, metavar="DIR", help="another checkout's worker, run first in each pair")
    args = parser.parse_args()
    roots = ([args.compare.resolve()] if args.compare else []) + [ROOT]
    workdir = Path(tempfile.mkdtemp(prefix="govcast-bench-steady-"))
    broker = kb.Broker(workdir, args.partitions)
    broker.start()
    try:
        print(kb.machine(), flush=True)
        print(f"{time.strftime('%H:%M:%S')} load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for n in range(args.pairs):
            for i, root in enumerate(roots):
                print(one_run(broker, root, args.rate, args.count, workdir, f"r{n}{'ab'[i]}"), flush=True)
        print(f"{time.strftime('%H:%M:%S')} load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
