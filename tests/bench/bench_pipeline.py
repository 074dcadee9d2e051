"""Benchmark: the embedded pipeline's CPU per submitted item (plan, park, project), without HTTP.

Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_pipeline [--count 2000] [--rounds 3] [--profile FILE]

Submits `--count` publications scheduled for next year through the real Publisher into the embedded log (in the
store's SQLite file, as `govcast run` has it) while no pipeline runs, then starts the embedded host and measures
this process's CPU time (user + system, every thread) until the plan and status consumers have caught up.
Prints CPU ms per item per round: compare commits A/B in the same minute (the figure is steadier than rates on a
shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from govcast.runtime import Runtime
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import Principal
from processors.embedded.host import EmbeddedHost
from processors.embedded.log import SqliteLog
from producers.publishing import Publisher
from schemas.events import Topics
from schemas.publication import PublicationIn
from settings import Settings


def one_round(count: int, workdir: Path, *, live: bool, clients: int = 16) -> float:
    """CPU ms per item: the pipeline over a backlog of `count` submissions (not `live`), or `clients` threads
    submitting `count` while the pipeline runs (`live`: submissions and pipeline together; subtract a round
    without pipeline, `--live`, for the pipeline's share)."""
    settings = Settings(data_dir=workdir, channels=["portal"])
    runtime = Runtime.build(settings)
    bus = runtime.bus
    assert isinstance(bus, SqliteLog)
    publisher = Publisher(settings, runtime.store, bus)
    principal = Principal("prn_dept", "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).isoformat()
    bodies = [PublicationIn.model_validate(sample_policy(title=f"基准{i}", publish_at=later)) for i in range(count)]

    def submit_all() -> None:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda body: publisher.submit(principal, body), bodies))

    host = EmbeddedHost(bus, runtime.context())

    def lag() -> int:
        return bus.lag("plan", Topics.publications) + bus.lag("status", Topics.status)

    async def run(pipeline: bool) -> float:
        cpu = time.process_time()
        runner = asyncio.create_task(host.run()) if pipeline else None
        if live:
            await asyncio.to_thread(submit_all)
        while pipeline and lag():
            await asyncio.sleep(0.02)
        spent = time.process_time() - cpu
        host.stop()
        if runner is not None:
            await runner
        return spent

    if not live:
        submit_all()
    spent = asyncio.run(run(pipeline=not live or bool(os.environ.get("PIPELINE", "1") == "1")))
    publisher.close()
    runtime.close()
    runtime.store.close()
    bus.close()
    return spent * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--live", action="store_true",
                        help="16 threads submit while the pipeline runs (PIPELINE=0: without it), CPU of both")
    args = parser.parse_args()
    results = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(one_round(args.count, Path(tmp), live=args.live))
    print(f"pid {os.getpid()} cpu ms/item: " + " ".join(f"{r:.3f}" for r in results))


if __name__ == "__main__":
    main()
