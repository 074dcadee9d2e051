"""Benchmark (not a test): build the targeting index over 100,000 subscribers and time matching.

    .venv/bin/python tests/bench/bench_targeting.py [N]

Target (DESIGN.md): matching 100,000 subscribers in ≤ 100 ms. Prints build time, per-query
match time (median and max of 20 runs) for a few targetings, and peak RSS.
"""

from __future__ import annotations

import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adapters.push.targeting import TargetIndex
from schemas.publication import Targeting
from tests.bench.results import record
from tests.push_support import business

QUERIES = {
    "C39 in 历下区|高新区, 专精特新": Targeting(regions=["历下区", "高新区"], industries=["C39"],
                                           qualifications=["专精特新中小企业"]),
    "all manufacturing (C)": Targeting(industries=["C"]),
    "small+micro, 税费减免|融资支持": Targeting(scales=["小型", "微型"], topics=["税费减免", "融资支持"]),
    "500 explicit credit codes": None,
}


def main(n: int = 100_000) -> None:
    rng = random.Random(42)
    t0 = time.perf_counter()
    rows = [business(i, rng) for i in range(n)]
    t1 = time.perf_counter()
    index = TargetIndex((r["credit_code"], r["region"], r["industry"], r["scale"], r["qualifications"], r["topics"])
                        for r in rows)
    t2 = time.perf_counter()
    QUERIES["500 explicit credit codes"] = Targeting(credit_codes=[r["credit_code"] for r in rng.sample(rows, 500)])
    print(f"{n:,} subscribers: generated in {t1 - t0:.2f} s, index built in {t2 - t1:.2f} s")
    for name, targeting in QUERIES.items():
        times, matched = [], 0
        for _ in range(20):
            start = time.perf_counter()
            matched = len(index.match(targeting))
            times.append((time.perf_counter() - start) * 1000)
        print(f"  {name:40s} matched {matched:6,}  median {statistics.median(times):6.2f} ms  max {max(times):6.2f} ms")
        widest = name == "all manufacturing (C)"  # the growth table follows the targeting that matches most
        record("targeting", f"matching: {name}", statistics.median(times), "ms", target="≤ 100 ms",
               met=statistics.median(times) <= 100, group=f"{n:,} subscribers" if widest else "")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
