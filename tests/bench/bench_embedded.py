"""Benchmark: submit → portal delivered in embedded mode, against the bare portal adapter in the same run.

Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_embedded [--count 200]

It starts a real `govcast run` (portal refresh at its default interval) on a temporary data dir, submits publications one
at a time over HTTP and reads each one's timeline (submitted_at → portal
delivered, both recorded by govcast itself), then times the portal adapter alone
on the same payloads as the baseline. Prints medians, p99 and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from adapters.portal import PortalAdapter
from adapters.portal.config import PortalSettings
from govcast.runtime import adapter_configs
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.normalize import normalize
from schemas import Action, DeliveryTask, IndexNo, PublicationIn, delivery_id
from settings import Settings
from tests.bench.results import record
from tests.conftest import Client, GovcastProcess

DEFAULT_REFRESH_SECONDS = PortalSettings.model_fields["portal_refresh_seconds"].default


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def govcast_latencies(count: int, workdir: Path) -> tuple[list[float], float]:
    """Submit → portal delivered of `count` publications one at a time, and govcast's CPU ms per publication
    (the whole process: API, pipeline, the client's status polls)."""
    # The portal's default refresh interval, as `govcast run` has it and as the bare adapter below runs: the tests'
    # interval 0 rewrites home, feed, sitemap and JSON index inside every delivery, before it counts as delivered.
    process = GovcastProcess(workdir / "data", env={"GOVCAST_PORTAL_REFRESH_SECONDS": str(DEFAULT_REFRESH_SECONDS)}).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        latencies = []
        assert process.proc is not None
        cpu_before = cpu_seconds(process.proc.pid)
        for i in range(count):
            response = client.submit(sample_policy(title=f"基准测试通知第{i + 1}号", channels=["portal"]))
            assert response.status_code == 202, response.text
            done = client.wait_for(response.json()["id"], "delivered", timeout=60)
            submitted = dt.datetime.fromisoformat(done["submitted_at"])
            delivered = max(dt.datetime.fromisoformat(e["at"]) for e in done["timeline"] if e["status"] == "delivered")
            latencies.append((delivered - submitted).total_seconds() * 1000)
        return latencies, 1000 * (cpu_seconds(process.proc.pid) - cpu_before) / count
    finally:
        process.stop()


def bare_adapter_latencies(count: int, workdir: Path) -> list[float]:
    settings = Settings(data_dir=workdir / "bare")
    adapter = PortalAdapter(adapter_configs(settings)["portal"])  # type: ignore[arg-type]
    code = DEMO_DEPARTMENT["publisher_code"]
    latencies = []
    for i in range(count):
        fields = PublicationIn.model_validate(sample_policy(title=f"基准测试通知第{i + 1}号"))
        pub = normalize(fields, publication_id=f"pub_bench{i:06d}", version=1, department=code,
                        index=IndexNo(code=code, year=2025, sequence=i + 1), submitted_at=dt.datetime.now(dt.UTC))
        task = DeliveryTask(delivery_id=delivery_id(pub.id, 1, "portal", Action.publish), channel="portal",
                            action=Action.publish, publication=pub)
        started = time.perf_counter()
        adapter.deliver(task)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="publications per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = bare_adapter_latencies(args.count, Path(tmp))
        full, cpu_ms = govcast_latencies(args.count, Path(tmp))
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"{'':32}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'bare portal adapter':32}{statistics.median(bare):10.1f}{percentile(bare, 0.99):10.1f}")
    print(f"{'govcast submit → delivered':32}{statistics.median(full):10.1f}{percentile(full, 0.99):10.1f}")
    print(f"govcast CPU per publication (user + system, whole process): {cpu_ms:.1f} ms; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"ratio of medians (govcast / bare adapter): {statistics.median(full) / statistics.median(bare):.2f}")
    print("targets (DESIGN.md): embedded p50 ≤ 50 ms, p99 ≤ 250 ms")
    p50, p99 = statistics.median(full), percentile(full, 0.99)
    record("embedded", "submit → portal delivered p50", p50, "ms", baseline=statistics.median(bare),
           baseline_name="bare portal adapter p50", target="≤ 50 ms", met=p50 <= 50)
    record("embedded", "submit → portal delivered p99", p99, "ms", baseline=percentile(bare, 0.99),
           baseline_name="bare portal adapter p99", target="≤ 250 ms", met=p99 <= 250)


if __name__ == "__main__":
    main()
