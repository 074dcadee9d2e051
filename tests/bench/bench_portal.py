"""Benchmark: the portal at city scale. Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_portal [--existing 100000] [--deliveries 200] [--burst 1000]

1. Delivery cost against site size: the median time of PortalAdapter.deliver on an empty site, then on a
   site seeded with `--existing` articles (written straight into the portal index, all in the same column
   as the measured deliveries: the worst case for its lists), and the ratio. Target: ≤ 1.5. Deliveries
   alternate between the two sites, so a change in machine load affects both alike.
   The site-wide refresh (home, feed, sitemap and JSON index parts) is timed on its own: the
   coalescing refresher runs it at most once a second, whatever the delivery rate.
2. Search at that size: median time of site search queries (title, body, 文号) over the seeded site.
3. Archive import: `govcast portal import` of `--import-count` generated lines (a subprocess, as an
   operator runs it), lines per second. Target: 100,000 in ≤ 10 minutes.
4. Burst: `--burst` submissions over HTTP to a real embedded `govcast run` (portal channel only), rate
   from the first submission to the last portal delivery. Target: ≥ 50 per second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from adapters.common.views import PortalEntry
from adapters.portal import PortalAdapter, PortalConfig
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.normalize import normalize
from schemas import Action, DeliveryTask, IndexNo, Publication, PublicationIn, delivery_id
from tests.bench.results import record
from tests.conftest import Client, GovcastProcess

CODE = DEMO_DEPARTMENT["publisher_code"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def template() -> Publication:
    fields = PublicationIn.model_validate(sample_policy())
    return normalize(fields, publication_id="pub_template", version=1, department=CODE,
                     index=IndexNo(code=CODE, year=2026, sequence=1), submitted_at=T0)


def variant(base: Publication, n: int, *, year: int, when: dt.datetime) -> Publication:
    return base.model_copy(update={
        "id": f"pub_{year}_{n:06d}", "title": f"关于做好第{n}批政务公开工作的通知", "publish_date": when.date(),
        "index": IndexNo(code=CODE, year=year, sequence=n + 1, width=6), "submitted_at": when,
        "doc_no": f"济政办字〔{year}〕{n + 1}号",
    })


def portal(root: Path) -> PortalAdapter:
    return PortalAdapter(PortalConfig(root=root, base_url="http://127.0.0.1:8000/portal", site_name="济南市人民政府",
                                      refresh_seconds=300))  # refresh timed on its own, not inside deliveries


def seed(adapter: PortalAdapter, count: int, base: Publication) -> float:
    """`count` articles straight into the portal index (no pages: old pages are not what a delivery touches)."""
    started = time.perf_counter()
    with adapter.open_store().session() as store:
        store.begin()
        for n in range(count):
            pub = variant(base, n, year=2026, when=T0 + dt.timedelta(minutes=n))
            path = f"zcwj/{pub.id}.html"
            store.put(PortalEntry.of(pub, column="zcwj", path=path, url=adapter.site.url(path)), pub)
        store.commit()
        store.compact()  # as `govcast portal import` ends
    return time.perf_counter() - started


def deliveries(adapter: PortalAdapter, count: int, base: Publication, start: int = 0) -> list[float]:
    timings = []
    for n in range(start, start + count):
        pub = variant(base, n, year=2027, when=dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n))
        task = DeliveryTask(delivery_id=delivery_id(pub.id, 1, "portal", Action.publish), channel="portal",
                            action=Action.publish, publication=pub)
        started = time.perf_counter()
        adapter.deliver(task)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def timed_refresh(adapter: PortalAdapter, *, everything: bool) -> float:
    with adapter.open_store().session() as store:
        if everything:
            store.mark_dirty(["home", "feed", "sitemap", "index"])
            store.mark_dirty(f"{kind}:{n}" for kind in ("sitemap", "index") for n in range(1, store.last_seq() // 5000 + 2))
    started = time.perf_counter()
    adapter.refresh()
    return (time.perf_counter() - started) * 1000


def burst(count: int, workdir: Path) -> tuple[float, float]:
    process = GovcastProcess(workdir / "data", env={"GOVCAST_PORTAL_REFRESH_SECONDS": "1"}).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], CODE))
        started = time.monotonic()

        def submit(i: int) -> str:
            response = client.submit(sample_policy(title=f"批量发布测试通知第{i + 1}号", channels=["portal"]))
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(submit, range(count)))
        submitted = time.monotonic() - started
        for pub_id in ids:
            client.wait_for(pub_id, "delivered", timeout=600)
        return count / (time.monotonic() - started), count / submitted
    finally:
        process.stop()


def archive_lines(count: int) -> list[str]:
    """`count` archive lines as an earlier portal would export them (index_no and publish_date kept)."""
    import json

    item = {k: v for k, v in sample_policy().items() if k not in ("review", "channels", "targeting", "publish_at")}
    lines = []
    for n in range(count):
        year = 2015 + n % 10
        item.update(title=f"关于{year}年第{n}批政务公开事项的通知", index_no=f"{CODE}/{year}-{n + 1:06d}",
                    written_date=f"{year}-03-01", publish_date=f"{year}-03-02", doc_no=f"济政办字〔{year}〕{n + 1}号",
                    original_url=f"/art/{year}/3/2/art_{n}.html")
        lines.append(json.dumps(item, ensure_ascii=False))
    return lines


def import_rate(count: int, workdir: Path, workers: int = 0) -> tuple[float, float, float]:
    """`govcast portal import` of `count` lines, as an operator runs it (a subprocess); seconds, lines/s and CPU
    seconds per line (the import and its worker processes: on a shared machine the CPU time is the steadier figure)."""
    import resource
    import subprocess
    import sys

    source = workdir / "archive.jsonl"
    source.write_text("\n".join(archive_lines(count)) + "\n", encoding="utf-8")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "govcast.cli", "portal", "import", "--data-dir", str(workdir / "data"),
                           "--workers", str(workers), str(source)], capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stderr.replace("\r", "\n").splitlines()[-1], flush=True)  # the import's own summary: its phases
    return seconds, count / seconds, (usage.ru_utime + usage.ru_stime - cpu_before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--import-count", type=int, default=100_000, help="archive lines imported (0: skip)")
    parser.add_argument("--only-import", action="store_true", help="measure the archive import alone")
    parser.add_argument("--import-workers", type=int, default=0, help="the import's --workers (0: one per core)")
    parser.add_argument("--only-burst", action="store_true", help="measure the burst alone")
    args = parser.parse_args()
    base = template()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.import_count:
            (Path(tmp) / "import").mkdir()
            seconds, rate, cpu = import_rate(args.import_count, Path(tmp) / "import", args.import_workers)
            print(f"archive import: {args.import_count} lines in {seconds:.0f} s ({rate:.0f} lines/s, "
                  f"{cpu * 1000:.2f} ms CPU per line; target: 100,000 in ≤ 600 s), load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
        if args.only_import:
            return
        if args.only_burst:
            rate, submit_rate = burst(args.burst, Path(tmp) / "burst")
            print(f"burst: {args.burst} submissions delivered to the portal at {rate:.1f}/s "
                  f"(submitted at {submit_rate:.1f}/s)  (target ≥ 50/s)")
            return
        empty = portal(Path(tmp) / "empty" / "portal")
        large = portal(Path(tmp) / "large" / "portal")
        seconds = seed(large, args.existing, base)
        print(f"seeded {args.existing} articles into the portal index in {seconds:.1f} s", flush=True)
        full_refresh = timed_refresh(large, everything=True)
        # Alternate one delivery to each site, so both see the same machine load.
        small: list[float] = []
        big: list[float] = []
        for n in range(args.deliveries):
            small += deliveries(empty, 1, base, start=n)
            big += deliveries(large, 1, base, start=n)
        small_refresh = timed_refresh(empty, everything=False)
        big_refresh = timed_refresh(large, everything=False)

        print(f"{'':44}{'p50 ms':>10}{'p90 ms':>10}")
        for label, values in (("delivery, empty site", small), (f"delivery, {args.existing} existing", big)):
            print(f"{label:44}{statistics.median(values):10.1f}{statistics.quantiles(values, n=10)[-1]:10.1f}")
        print(f"ratio of medians ({args.existing} / empty): {statistics.median(big) / statistics.median(small):.2f}"
              "  (target ≤ 1.5)")
        print(f"site-wide refresh after {args.deliveries} deliveries: empty site {small_refresh:.0f} ms, "
              f"{args.existing} existing {big_refresh:.0f} ms; full rebuild of every part {full_refresh:.0f} ms")
        size = f"{args.existing:,} articles"
        record("portal", "delivery p50", statistics.median(big), "ms", baseline=statistics.median(small),
               baseline_name="empty site", target="≤ 1.5 × empty", met=statistics.median(big) <= 1.5 * statistics.median(small),
               group=size)
        search_report(large, size)
        if not args.skip_burst:
            rate, submit_rate = burst(args.burst, Path(tmp) / "burst")
            print(f"burst: {args.burst} submissions delivered to the portal at {rate:.1f}/s "
                  f"(submitted at {submit_rate:.1f}/s)  (target ≥ 50/s)")


def search_report(adapter: PortalAdapter, size: str) -> None:
    """Median time of search queries at this size: a title, common words, a 文号, a two-character word, no hit."""
    from adapters.portal.search import search

    queries = ["关于做好第9999批政务公开工作的通知", "政务公开", "济政办字〔2026〕5000号", "公开", "不存在的词语组合"]
    with adapter.open_store().session() as store:
        for q in queries:
            timings = []
            for _ in range(7):
                started = time.perf_counter()
                found = search(store, q, limit=10)  # what /portal/search runs for a page of results
                timings.append((time.perf_counter() - started) * 1000)
            print(f"search {q!r:28} {statistics.median(timings):7.1f} ms median, {found.total} hits")
            record("portal", f"search at {size}: {q}", statistics.median(timings), "ms", target="< 100 ms",
                   met=statistics.median(timings) < 100)


if __name__ == "__main__":
    main()
