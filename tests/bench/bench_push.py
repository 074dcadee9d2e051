"""Benchmark (not a test): one policy pushed to N subscribers by webhook, against a bare HTTP client loop.

    .venv/bin/python -m tests.bench.bench_push [--subscribers 100000] [--baseline 20000]

In one run, on this machine:
1. matching: the targeting index over N generated businesses (median of 20 matches);
2. dispatch: a real `govcast run` (embedded) with N imported businesses, all preferring webhooks to
   one local aiohttp receiver (in its own process, deduplicating by webhook-id); one policy targets
   all of them; the rate is N / (last receipt - first receipt), measured at the receiver;
3. baseline: the same receiver driven by a bare aiohttp client loop (64 in flight, same-size signed
   bodies), as many requests as --baseline;
4. the ratio dispatch / baseline, and govcast's peak RSS (VmHWM);
5. CPU per push: govcast's CPU time (user + system, all threads) from the submission to the last receipt
   per business, against the bare client's CPU time per request -- a figure the machine's load moves less
   than the rates. `--profile FILE` samples govcast with py-spy meanwhile (collapsed stacks, for flame graphs).
Targets (DESIGN.md): matching ≤ 100 ms, dispatch ≥ 3,000/s and ≥ 50 % of the bare client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from adapters.push.targeting import TargetIndex
from adapters.push.webhook import sign
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from schemas.publication import Targeting
from tests.bench.results import record
from tests.conftest import Client, GovcastProcess, cli, free_port
from tests.push_support import REGIONS, SECRET, business, write_csv

TARGET = Targeting(regions=REGIONS)  # every generated business


def receiver_main(port: int) -> None:
    """A minimal aiohttp receiver: counts distinct webhook-ids, keeps first/last arrival times."""
    from aiohttp import web

    seen: set[str] = set()
    times: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        msg_id = request.headers.get("webhook-id", "")
        if msg_id not in seen:
            seen.add(msg_id)
            now = time.time()
            if not times:
                times.append(now)
            times[1:] = [now]
        return web.Response(status=204)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"count": len(seen), "first": times[0] if times else None,
                                  "last": times[-1] if times else None})

    async def reset(request: web.Request) -> web.Response:
        seen.clear()
        times.clear()
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes([web.post("/hooks/{n}", hook), web.get("/_count", count), web.post("/_reset", reset)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def matching(rows: list[dict[str, Any]]) -> tuple[float, int]:
    index = TargetIndex((r["credit_code"], r["region"], r["industry"], r["scale"], r["qualifications"], r["topics"])
                        for r in rows)
    times, found = [], 0
    for _ in range(20):
        start = time.perf_counter()
        found = len(index.match(TARGET))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), found


async def bare_client(url: str, count: int) -> float:
    import aiohttp

    body = json.dumps({"type": "policy.published", "data": {"title": "基准" * 60, "url": url}},
                      ensure_ascii=False).encode()
    queue = list(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            n = queue.pop()
            msg_id, ts = f"bare-{n}", int(time.time())
            headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                       "webhook-signature": sign(SECRET, msg_id, ts, body)}
            async with session.post(f"{url}/hooks/{n}", data=body, headers=headers) as response:
                await response.read()

    start, cpu = time.perf_counter(), time.process_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        await asyncio.gather(*(worker(session) for _ in range(64)))
    return count / (time.perf_counter() - start), (time.process_time() - cpu) / count


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_count(url: str, want: int, timeout: float, label: str) -> dict[str, Any]:
    deadline, last, body = time.monotonic() + timeout, -1, {}
    while time.monotonic() < deadline:
        body = requests.get(f"{url}/_count", timeout=10).json()
        if body["count"] >= want:
            return body
        if body["count"] // 10_000 != last // 10_000 and body["count"]:
            print(f"  {label}: {body['count']:,}/{want:,}", flush=True)
        last = body["count"]
        time.sleep(0.5)
    raise SystemExit(f"{label}: only {body.get('count')} of {want} arrived in {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--profile", type=Path, help="write py-spy's collapsed stacks of govcast's dispatch here")
    args = parser.parse_args()
    port = free_port()
    receiver = multiprocessing.Process(target=receiver_main, args=(port,), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    rows = [business(n, rng, webhook_base=url) | {"channels": "webhook"} for n in range(1, args.subscribers + 1)]
    match_ms, matched = matching(rows)
    print(f"matching: {matched:,} of {len(rows):,} in {match_ms:.1f} ms (median of 20)", flush=True)

    with tempfile.TemporaryDirectory(prefix="govcast-bench-push-") as tmp:
        data = Path(tmp) / "data"
        start = time.perf_counter()
        done = cli("subscribers", "import", str(write_csv(Path(tmp) / "subs.csv", rows)), "--data-dir", str(data),
                   timeout=1800, env={"GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"})  # the receiver is on loopback
        assert done.returncode == 0, done.stderr
        print(f"import: {len(rows):,} businesses in {time.perf_counter() - start:.1f} s", flush=True)
        process = GovcastProcess(data, env={"GOVCAST_CHANNELS": "portal,push",
                                            "GOVCAST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}).start()
        try:
            client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"],
                                                       DEMO_DEPARTMENT["publisher_code"]))
            policy = sample_policy(title="关于全市企业政策推送基准测试的通知", channels=["portal", "push"],
                                   targeting=TARGET.model_dump(exclude_defaults=True))
            assert process.proc is not None
            pid = process.proc.pid
            cpu_before = cpu_seconds(pid)
            spy = subprocess.Popen(["py-spy", "record", "-p", str(pid), "-r", "100", "-f", "raw", "--threads",
                                    "--nonblocking", "-o", str(args.profile)]) if args.profile else None
            assert client.submit(policy).status_code == 202
            got = wait_count(url, len(rows), args.timeout, "govcast")
            cpu_per_push = (cpu_seconds(pid) - cpu_before) / len(rows)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(timeout=60)
            dispatch = len(rows) / max(got["last"] - got["first"], 1e-9)
            rss = peak_rss_mb(pid)
        finally:
            process.stop()
    requests.post(f"{url}/_reset", timeout=10)
    bare, bare_cpu = asyncio.run(bare_client(url, args.baseline))
    receiver.terminate()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"matching   {match_ms:8.1f} ms         (target ≤ 100 ms)")
    print(f"dispatch   {dispatch:8,.0f} pushes/s   (target ≥ 3,000/s)")
    print(f"bare loop  {bare:8,.0f} requests/s (aiohttp, 64 in flight, same receiver)")
    print(f"ratio      {dispatch / bare:8.2f}            (target ≥ 0.50)")
    print(f"peak RSS   {rss:8.0f} MB of the govcast process")
    print(f"CPU        {cpu_per_push * 1000:8.3f} ms per push (govcast process, submission to last receipt); "
          f"bare client {bare_cpu * 1000:.3f} ms per request; ratio {bare_cpu / cpu_per_push:.2f}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    size = f"{args.subscribers:,} subscribers"
    record("push", f"matching {size} (median of 20)", match_ms, "ms", target="≤ 100 ms", met=match_ms <= 100)
    record("push", "dispatch", dispatch, "pushes/s", baseline=bare, baseline_name="bare aiohttp client",
           target="≥ 0.50 × bare", met=dispatch / bare >= 0.5, group=size)
    record("push", "peak RSS of govcast run", rss, "MB", target="≤ 300 MB", met=rss <= 300, group=size)
    record("push", "CPU per push", cpu_per_push * 1000, "ms", baseline=bare_cpu * 1000,
           baseline_name="bare client, per request", group=size,
           note="govcast's CPU time per push over the bare client's per request (lower is better; ≤ 2 is ≥ 0.5 × "
                "bare by CPU); the load moves it less than the rates")


if __name__ == "__main__":
    main()
