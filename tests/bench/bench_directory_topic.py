"""Benchmark (not a test): the Kafka-mode push directory with N subscribers -- worker memory and load time.

    .venv/bin/python -m tests.bench.bench_directory_topic [--subscribers 100000] [--broker kafka://HOST:PORT]

Without --broker it starts a private broker with deploy/kafka/kafka-local (temporary dir, free ports, stopped
at the end). In one run:
1. write: N generated businesses go through SubscriberStore.upsert_many with the DirectoryFeed hook (SQLite
   store in a temporary dir; batches of 2,000 as `govcast subscribers import --broker` does): rows/s;
2. directory alone: a fresh process imports what `govcast worker` imports (runtime, faust host, faust's
   modules), notes its RSS, then materializes the topic in a TopicDirectory: load time, index build time,
   matching time (median of 20), get_many of 1,000 codes, RSS after and peak RSS (VmHWM);
3. real processes: `govcast api --broker` (its start-up reseed finds the topic in step) and one
   `govcast worker --broker` (channels portal,push) on that store; one policy targeting ~0.6 % of the
   businesses is submitted; once the push is matched, the worker's RSS and peak RSS (VmHWM).
Target (DESIGN.md): worker RSS ≤ 300 MB with 100,000 subscribers loaded.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parents[2]


def memory() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def worker_main(servers: str, n: int) -> None:
    import importlib

    import govcast.runtime  # noqa: F401  (what a worker imports)
    from processors import faust_support

    for module in faust_support.FAUST_MODULES:
        importlib.import_module(module)
    from processors.directory_topic import TopicDirectory
    from schemas.publication import Targeting
    from tests.push_support import REGIONS, credit_code

    base = memory()["VmRSS"]
    started = time.perf_counter()
    directory = TopicDirectory(servers.split(",")).start()
    directory.sync(600)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    directory.index()
    built = time.perf_counter() - started
    targetings = [Targeting(regions=["历下区", "高新区"], industries=["C39"], qualifications=["专精特新中小企业"]),
                  Targeting(regions=REGIONS), Targeting(industries=["C"], scales=["小型", "微型"])]
    times, counts = [], []
    for _ in range(20):
        for t in targetings:
            started = time.perf_counter()
            counts.append(len(directory.match(t)))
            times.append(time.perf_counter() - started)
    codes = [credit_code(i) for i in random.Random(1).sample(range(n), min(n, 1000))]
    started = time.perf_counter()
    got = directory.get_many(codes)
    fetched = time.perf_counter() - started
    mem = memory()
    print(f"worker: {len(directory):,} businesses read in {loaded:.1f} s; index built in {built * 1000:.0f} ms; "
          f"match (incl. catch-up with the topic's end) median {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms, matched {sorted(set(counts))}; get_many(1,000) "
          f"{fetched * 1000:.0f} ms ({len(got)} found)")
    print(f"worker RSS: {base:.0f} MB before the directory, {mem['VmRSS']:.0f} MB with it loaded "
          f"(+{mem['VmRSS'] - base:.0f} MB), peak {mem['VmHWM']:.0f} MB  (target ≤ 300 MB)")
    directory.close()


def write(url: str, n: int, tmp: Path) -> None:
    import govcast.runtime  # noqa: F401  (import order of the app)
    from persistence.store import StatusStore
    from persistence.subscribers import SubscriberStore
    from processors.directory_topic import DirectoryFeed
    from processors.kafka_bus import KafkaBus
    from schemas.subscriber import from_csv_row
    from tests.push_support import business

    rng = random.Random(2025)
    subs = [from_csv_row(business(i, rng, webhook_base="http://127.0.0.1:9/hooks")) for i in range(n)]
    bus = KafkaBus(url, delivery_timeout_ms=60_000)
    (tmp / "data").mkdir()
    store = SubscriberStore(StatusStore(f"sqlite:///{tmp / 'data' / 'status.db'}").engine, on_change=DirectoryFeed(bus))
    started = time.perf_counter()
    for i in range(0, n, 2000):
        store.upsert_many(subs[i:i + 2000])
    took = time.perf_counter() - started
    bus.close()
    print(f"write: {n:,} businesses through the store + directory topic in {took:.1f} s ({n / took:,.0f}/s)")


def real_worker(url: str, tmp: Path) -> None:
    import requests

    from govcast.samples import DEMO_DEPARTMENT, sample_policy
    from tests.conftest import cli, free_port

    data, port = tmp / "data", free_port()
    env = {**os.environ, "GOVCAST_CHANNELS": "portal,push", "GOVCAST_RATE_LIMIT_PER_SECOND": "0"}
    common = ["--data-dir", str(data), "--broker", url, "--public-url", f"http://127.0.0.1:{port}"]
    token = cli("token", "create", "--data-dir", str(data), "--kind", "department", "--name", DEMO_DEPARTMENT["name"],
                "--publisher-code", DEMO_DEPARTMENT["publisher_code"]).stdout.strip()
    started = time.perf_counter()
    api = subprocess.Popen([sys.executable, "-m", "govcast.cli", "api", "--port", str(port), *common], cwd=ROOT, env=env,
                           stdout=(tmp / "api.log").open("w"), stderr=subprocess.STDOUT)
    worker = subprocess.Popen([sys.executable, "-m", "govcast.cli", "worker", *common], cwd=ROOT, env=env,
                              stdout=(tmp / "worker.log").open("w"), stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert api.poll() is None, (tmp / "api.log").read_text()[-3000:]
            time.sleep(0.2)
        print(f"api: serving {time.perf_counter() - started:.1f} s after start (start-up reseed included)")
        targeting = {"regions": ["历下区"], "industries": ["C39"], "qualifications": ["专精特新中小企业"]}
        answer = requests.post(f"http://127.0.0.1:{port}/v1/publications", timeout=30,
                               json=sample_policy(title="目录基准测试通知", targeting=targeting, channels=["portal", "push"]),
                               headers={"Authorization": f"Bearer {token}"})
        submitted, pub = time.perf_counter(), answer.json()["id"]
        detail = ""
        while not detail.startswith("matched"):
            assert worker.poll() is None, (tmp / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
            body = requests.get(f"http://127.0.0.1:{port}/v1/publications/{pub}", timeout=30,
                                headers={"Authorization": f"Bearer {token}"}).json()
            detail = body["deliveries"].get("push", {}).get("detail") or ""
        status = Path(f"/proc/{worker.pid}/status").read_text()
        rss, hwm = (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM")))
        print(f"real worker: push {detail.split(',')[0]} {time.perf_counter() - submitted:.1f} s after the submission "
              f"(first match: the worker reads the topic first); RSS {rss:.0f} MB, peak {hwm:.0f} MB  (target ≤ 300 MB)")
    finally:
        for proc in (api, worker):
            proc.send_signal(signal.SIGINT)
        for proc in (api, worker):
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--broker", help="kafka://HOST:PORT of a broker to use (default: start a private one)")
    parser.add_argument("--worker-helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_helper:
        worker_main(args.worker_helper, args.subscribers)
        return
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-directory-") as tmp:
        env = None
        url = args.broker
        if url is None:
            from tests.kafka_fixtures import BROKER_WATCHDOG, SCRIPT, free_ports

            port, controller = free_ports(2)
            env = {**os.environ, "KAFKA_LOCAL_DIR": f"{tmp}/kafka", "KAFKA_PORT": str(port),
                   "KAFKA_CONTROLLER_PORT": str(controller), "GOVCAST_TOPICS": "govcast.deadletter"}
            done = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=600,
                                  check=False)
            if done.returncode:
                raise SystemExit(f"kafka-local start failed:\n{done.stderr[-3000:]}")
            subprocess.Popen([sys.executable, "-c", BROKER_WATCHDOG, str(os.getpid()), str(SCRIPT)], env=env,
                             start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            url = f"kafka://{done.stdout.strip().splitlines()[-1]}"
        try:
            write(url, args.subscribers, Path(tmp))
            servers = url.removeprefix("kafka://")
            subprocess.run([sys.executable, "-m", "tests.bench.bench_directory_topic", "--worker-helper", servers,
                            "--subscribers", str(args.subscribers)], cwd=ROOT, check=True)
            real_worker(url, Path(tmp))
        finally:
            if env is not None:
                from tests.kafka_fixtures import SCRIPT

                subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120, check=False)


if __name__ == "__main__":
    main()
