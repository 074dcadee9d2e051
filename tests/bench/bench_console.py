"""Benchmark: the console's publications page at 100,000 publications. Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_console [--publications 100000] [--runs 30] [--pg URL | --no-pg]

Fills a status store with N publications (3 channels each, a mix of states, 12 departments), on SQLite and
on PostgreSQL (the URL of --pg, else GOVCAST_TEST_PG_URL, else a private server from deploy/dev/postgres-local),
then times GET /console/publications through the real app (session cookie, keyset query, template) -- first
page, a page 50,000 items deep, filtered by channel and state, text search, one department's view -- as the
median of `--runs` requests. Baseline in the same run: GET /v1/publications (the JSON list with offset paging
and a total count) on the first page and at the same depth. Target: every console page < 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.listing import Cursor
from persistence.store import StatusStore, document_columns
from persistence.tables import deliveries, publications
from processors.normalize import normalize
from producers.api import create_app
from producers.auth import new_token
from schemas.publication import IndexNo, PublicationIn
from settings import Settings
from tests.bench.results import record
from tests.producers.conftest import OutageSwitch
from tests.store_backends import pg_schema

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ["portal", "wechat", "weibo"]
STATES = ["delivered"] * 17 + ["failed", "retrying", "dead"]
BATCH = 2000


def departments() -> list[str]:
    base = DEMO_DEPARTMENT["publisher_code"]
    return [base] + [f"11370100MB{n:07d}X" for n in range(11)]


def fill(store: StatusStore, count: int) -> None:
    template = normalize(PublicationIn.model_validate(sample_policy()), publication_id="pub_t", version=1,
                         department=DEMO_DEPARTMENT["publisher_code"],
                         index=IndexNo(code=DEMO_DEPARTMENT["publisher_code"], year=2026, sequence=1),
                         submitted_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    doc = template.model_dump_json()
    extra = document_columns(template)
    codes = departments()
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for first in range(0, count, BATCH):
        pubs, dels = [], []
        for n in range(first, min(first + BATCH, count)):
            at = start + dt.timedelta(minutes=5 * n)
            pub_id = f"pub_{n:020d}"
            state = STATES[n % len(STATES)]
            pubs.append(dict(id=pub_id, department=codes[n % len(codes)], kind="policy" if n % 3 else "notice",
                             title=f"关于做好第{n}批政务公开工作的通知", index_no=f"{codes[n % len(codes)]}/{2025 + n // 60000}-{n:06d}",
                             category="政策文件", version=1, status="delivered" if state == "delivered" else "partially_delivered",
                             channels=json.dumps(CHANNELS), retracted=False, doc=doc, created_at=at, updated_at=at,
                             **{**extra, "doc_no": f"济政办字〔2025〕{n}号"}))
            for i, channel in enumerate(CHANNELS):
                dels.append(dict(publication_id=pub_id, channel=channel, version=1,
                                 status=state if i == 2 else "delivered", detail="", updated_at=at, queued_at=at))
        with store.transaction() as conn:
            conn.execute(insert(publications), pubs)
            conn.execute(insert(deliveries), dels)
    with store.transaction() as conn:  # fresh planner statistics, as after a day of normal use
        conn.exec_driver_sql("ANALYZE")


def median_ms(client: TestClient, path: str, runs: int) -> float:
    client.get(path).raise_for_status()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def measure(url: str, count: int, runs: int, tmp: Path) -> list[tuple[str, float]]:
    store = StatusStore(url)
    t0 = time.perf_counter()
    fill(store, count)
    print(f"  filled {count:,} publications ({count * len(CHANNELS):,} deliveries) in {time.perf_counter() - t0:.0f} s")
    from processors.embedded.log import SqliteLog

    settings = Settings(data_dir=tmp, channels=CHANNELS)
    bus = OutageSwitch(SqliteLog(tmp / "bus.db"))
    operator = new_token(store, "operator", "bench")
    dept = new_token(store, "department", "bench", departments()[3])
    results = []
    with TestClient(create_app(settings, store, bus)) as client, TestClient(create_app(settings, store, bus)) as mine:
        for who, token in ((client, operator), (mine, dept)):
            form = who.get("/console/login")
            who.post("/console/login", data={"token": token, "csrf": csrf_in(form.text)})
        deep = Cursor(dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * (count // 2)), f"pub_{count // 2:020d}")
        pages = [
            ("console: first page", "/console/publications"),
            (f"console: {count // 2:,} deep (keyset)", f"/console/publications?after={deep.encode()}"),
            ("console: weibo + failed", "/console/publications?channel=weibo&status=failed"),
            ("console: text search", "/console/publications?q=%E7%AC%AC99999%E6%89%B9"),  # 第99999批: one match
            ("console: text in every title", "/console/publications?q=%E6%94%BF%E5%8A%A1%E5%85%AC%E5%BC%80"),  # 政务公开
            ("console: text in a 文号", "/console/publications?q=%E5%8A%9E%E5%AD%97%E3%80%94"),  # 办字〔 (every 文号)
            ("console: department view", None),
        ]
        for name, path in pages:
            if path is None:
                results.append((name, median_ms(mine, "/console/publications", runs)))
            else:
                results.append((name, median_ms(client, path, runs)))
        headers = {"Authorization": f"Bearer {operator}"}
        client.headers.update(headers)
        results.append(("baseline JSON list: first page", median_ms(client, "/v1/publications?per_page=50", runs)))
        page = count // 2 // 50
        deep_json = f"/v1/publications?per_page=50&page={page}"
        results.append((f"baseline JSON list: page {page:,} (offset)", median_ms(client, deep_json, runs)))
    store.close()
    return results


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    url = url or os.environ.get("GOVCAST_TEST_PG_URL")
    if url:
        with pg_schema(url) as schema_url:
            yield schema_url
        return
    tool = str(ROOT / "deploy" / "dev" / "postgres-local")
    subprocess.run([tool, "start"], check=True, capture_output=True)
    try:
        base = subprocess.run([tool, "url"], check=True, capture_output=True, text=True).stdout.strip()
        with pg_schema(base) as schema_url:
            yield schema_url
    finally:
        subprocess.run([tool, "stop"], check=False, capture_output=True)


def report(name: str, results: list[tuple[str, float]]) -> None:
    baseline = dict(results).get("baseline JSON list: first page")
    for page, ms in results:
        if page.startswith("console"):
            record("console", f"{name}: {page}", ms, "ms", baseline=baseline, baseline_name="JSON list, first page",
                   target="< 300 ms", met=ms < 300)
    print(f"\n{name}")
    print(f"  {'page':<40} {'median ms':>10}")
    for page, ms in results:
        flag = "" if not page.startswith("console") else ("  ok (< 300 ms)" if ms < 300 else "  OVER 300 ms")
        print(f"  {page:<40} {ms:>10.1f}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--publications", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pg", default=None, help="PostgreSQL base URL (default: GOVCAST_TEST_PG_URL or a private one)")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}; load average {load[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite: {args.publications:,} publications")
        report("SQLite", measure(f"sqlite:///{tmp}/status.db", args.publications, args.runs, Path(tmp)))
    if not args.no_pg:
        with tempfile.TemporaryDirectory() as tmp, postgres(args.pg) as url:
            print(f"\nPostgreSQL: {args.publications:,} publications")
            report("PostgreSQL", measure(url, args.publications, args.runs, Path(tmp)))


if __name__ == "__main__":
    main()
