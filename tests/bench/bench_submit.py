"""Benchmark: durable submissions/s at 1, 16 and 64 concurrent clients, against a bare FastAPI endpoint in the same run.

Not a test (pytest does not collect it). Run:

    .venv/bin/python -m tests.bench.bench_submit [--seconds 8] [--skip kafka] [--deliver] [--api-processes N ...]
        [--client raw|aiohttp]

Every client is a keep-alive connection from this process posting the same JSON body (a `sample_policy`,
2.6 kB) one request after the other; a run lasts `--seconds` per concurrency level. The load generator
shares the 2 cores with the server: by default it writes prebuilt request bytes and reads each answer by
its Content-Length (`Poster`, about 0.05 ms of CPU per request); `--client aiohttp`, what this benchmark used
until 2026-12-03, spends about 0.12–0.15 ms, CPU the server being measured then lacks. Targets compared:

1. bare: a FastAPI app with one POST route that parses the JSON body and answers 202
   (uvicorn, one process, the server settings `govcast` uses);
2. embedded: `govcast run` (SQLite store and log, fsync per commit), with 1 and with 2 API processes
   (`--api-processes`, repeatable, picks the counts; sandboxes off for each, the portal channel only);
3. kafka+pg: two `govcast api --broker` processes on one PostgreSQL store and a private
   Kafka broker (deploy/kafka/kafka-local, deploy/dev/postgres-local), the clients split
   evenly between the two.

By default every submission is scheduled for next year, so the pipeline plans and parks
it but delivers nothing during the run (the submit path is what is measured); `--deliver`
makes them publish now to the portal, so the pipeline competes for the same 2 cores.
The per-token rate limit is off in every run (one token makes all the requests; the tests run without it
too). With it on, each authenticated request spends one more statement on a SQLite file without fsync
(`persistence/ratelimit.py`): about 0.1 ms of CPU, measured in process (0.4–0.5 ms before its statement was
built once, 2026-12-03).
Prints submissions/s, p50/p99 latency per level, the server's CPU time per request (user +
system of the server processes over the level, divided by the requests answered: steadier under
a loaded machine than the rate), the load generator's own CPU per request, the ratios against bare, the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.bench.bench_kafka import ROOT, Broker, machine, percentile
from tests.bench.results import record
from tests.conftest import GovcastProcess, cli, free_port

LEVELS = (1, 16, 64)
BARE_APP = """
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/publications", status_code=202)
def submit(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "pub_bare", "status": "pending", "title": body.get("title")}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def body(deliver: bool) -> dict:  # type: ignore[type-arg]
    payload = sample_policy(title="基准测试：提交吞吐量", channels=["portal"])
    if not deliver:
        payload["publish_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).isoformat()
    return payload


class Poster:
    """One keep-alive HTTP/1.1 connection that posts the same prebuilt request again and again.

    The load generator shares this 2-core machine with the server it measures: aiohttp's client spent 0.12–0.15 ms
    of CPU per request (a third of the bare endpoint's own), CPU the server then could not use. This writes the
    request's bytes as they are and reads the answer by its Content-Length, nothing more."""

    def __init__(self, url: str, token: str, body: bytes) -> None:
        split = urlsplit(url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        head = (f"POST /v1/publications HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self.request = head.encode("latin-1") + body
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[int, bytes]:
        """(status, body) of one more POST; reconnects when the server closed the connection."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if "content-length" not in fields:  # uvicorn answers JSON with a length; anything else is a surprise
            raise SystemExit(f"answer without Content-Length: {head!r}")
        answer = await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("connection") == "close":
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def load(urls: list[str], token: str, clients: int, seconds: float, payload: dict,  # type: ignore[type-arg]
               client: str = "raw") -> tuple[int, list[float], float]:
    """`clients` sequential posters for `seconds`; (202 answers per second, latencies in ms, the load generator's
    own CPU ms per request). `client`: "raw" (`Poster`) or "aiohttp" (what this benchmark used before)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    body = json.dumps(payload).encode()

    def check(url: str, status: int, answer: bytes) -> None:
        if status != 202:
            raise SystemExit(f"{url} answered {status}: {answer[:500]!r}")

    async def raw(n: int) -> None:
        url = urls[n % len(urls)]
        poster = Poster(url, token, body)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                check(url, *await poster.post())
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await poster.close()

    async def with_aiohttp(session: aiohttp.ClientSession, n: int) -> None:
        url = f"{urls[n % len(urls)]}/v1/publications"
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                check(url, response.status, await response.read())
            latencies.append((time.perf_counter() - started) * 1000)

    cpu_before, started = time.process_time(), time.perf_counter()
    if client == "raw":
        await asyncio.gather(*(raw(n) for n in range(clients)))
    else:
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {token}"}) as session:
            await asyncio.gather(*(with_aiohttp(session, n) for n in range(clients)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    return int(len(latencies) / elapsed), latencies, 1000 * cpu / max(1, len(latencies))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes `pids` and their children have used so far (Linux /proc)."""
    total = 0
    for pid in pids + children(pids):
        with contextlib.suppress(FileNotFoundError):  # a child that ended (its time is in the parent's cutime)
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def children(pids: list[int]) -> list[int]:
    """The live child processes of `pids` (the extra API processes of `govcast run --api-processes`)."""
    found = []
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


Level = tuple[int, float, float, float, float]  # submissions/s, p50 ms, p99 ms, server and client CPU ms per request


def measure(name: str, urls: list[str], token: str, seconds: float, payload: dict, pids: list[int],  # type: ignore[type-arg]
            client: str, warmup: float = 1.0) -> dict[int, Level]:
    results = {}
    asyncio.run(load(urls, token, 4, warmup, payload, client))  # warm-up: connections, caches, first batches
    for clients in LEVELS:
        cpu_before = cpu_seconds(pids)
        rate, latencies, client_ms = asyncio.run(load(urls, token, clients, seconds, payload, client))
        cpu_ms = 1000 * (cpu_seconds(pids) - cpu_before) / max(1, len(latencies))
        results[clients] = (rate, statistics.median(latencies), percentile(latencies, 0.99), cpu_ms, client_ms)
        print(f"  {name:10} {clients:3} clients: {rate:6d}/s  p50 {results[clients][1]:6.1f} ms  "
              f"p99 {results[clients][2]:6.1f} ms  server CPU {cpu_ms:5.2f} ms/request  client CPU {client_ms:5.2f}", flush=True)
    return results


def wait_ready(url: str, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + path, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bare(tmp: Path, seconds: float, payload: dict, client: str) -> dict[int, Level]:  # type: ignore[type-arg]
    port = free_port()
    with process(["-c", BARE_APP, str(port)], tmp / "bare.log") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, "/docs")
        return measure("bare", [url], "-", seconds, payload, [proc.pid], client)


def embedded(tmp: Path, seconds: float, payload: dict, processes: int, client: str) -> dict[int, Level]:  # type: ignore[type-arg]
    # sandboxes off (several API processes refuse them; off for 1 too, to compare like with like): the portal only
    govcast = GovcastProcess(tmp / f"embedded-{processes}", extra_args=["--api-processes", str(processes)],
                             env={"GOVCAST_SANDBOXES": "false", "GOVCAST_CHANNELS": "portal"}).start()
    try:
        token = govcast.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
        assert govcast.proc is not None
        return measure(embedded_name(processes), [govcast.url], token, seconds, payload, [govcast.proc.pid], client)
    finally:
        govcast.stop()


@contextmanager
def postgres(tmp: Path) -> Iterator[str]:
    script = str(ROOT / "deploy" / "dev" / "postgres-local")
    env = {**os.environ, "GOVCAST_PG_DIR": str(tmp / "pg")}
    tmp.chmod(0o755)  # the server runs as the postgres user: it must reach its directory in this private tmp dir
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        raise SystemExit(f"postgres-local start failed:\n{started.stdout}{started.stderr}")
    try:
        yield subprocess.run([script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True, timeout=120)


def kafka_pg(tmp: Path, seconds: float, payload: dict, client: str) -> dict[int, Level]:  # type: ignore[type-arg]
    broker = Broker(tmp, partitions=4)
    kafka = broker.start()
    try:
        with postgres(tmp) as store_url:
            env = {"GOVCAST_STORE_URL": store_url, "GOVCAST_BROKER": kafka.url, "GOVCAST_CHANNELS": "portal",
                   "GOVCAST_RATE_LIMIT_PER_SECOND": "0"}  # the bench measures throughput, not the per-token limit
            data = tmp / "kafka-data"
            done = cli("token", "create", "--data-dir", str(data), "--kind", "department", "--name", DEMO_DEPARTMENT["name"],
                       "--publisher-code", DEMO_DEPARTMENT["publisher_code"], env=env)
            assert done.returncode == 0, done.stderr
            token = done.stdout.strip()
            ports = [free_port(), free_port()]
            with process(["-m", "govcast.cli", "api", "--data-dir", str(data), "--port", str(ports[0])], tmp / "api0.log", env) as a, \
                    process(["-m", "govcast.cli", "api", "--data-dir", str(data), "--port", str(ports[1])], tmp / "api1.log", env) as b:
                urls = [f"http://127.0.0.1:{port}" for port in ports]
                for url in urls:
                    wait_ready(url, "/readyz")
                # CPU: the two API processes. A longer warm-up: the broker, started a moment ago, runs interpreted
                # Java until its JIT has compiled the produce path.
                return measure("kafka+pg", urls, token, seconds, payload, [a.pid, b.pid], client, warmup=8.0)
    finally:
        broker.stop()


def embedded_name(processes: int) -> str:
    return "embedded" if processes == 1 else f"embedded ×{processes}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per concurrency level")
    parser.add_argument("--skip", action="append", default=[], choices=["embedded", "kafka"], help="leave a target out")
    parser.add_argument("--api-processes", type=int, action="append", default=[], metavar="N",
                        help="embedded: measure `govcast run --api-processes N` (repeatable; default 1 and 2)")
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw",
                        help="load generator: prebuilt requests on raw keep-alive connections (default), or aiohttp")
    parser.add_argument("--deliver", action="store_true", help="publish now (the pipeline delivers during the run)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load generator: {args.client}", flush=True)
    payload = body(args.deliver)
    results: dict[str, dict[int, Level]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["bare"] = bare(Path(tmp), args.seconds, payload, args.client)
        if "embedded" not in args.skip:
            for processes in args.api_processes or [1, 2]:
                results[embedded_name(processes)] = embedded(Path(tmp), args.seconds, payload, processes, args.client)
        if "kafka" not in args.skip:
            results["kafka+pg"] = kafka_pg(Path(tmp), args.seconds, payload, args.client)
    print(f"\n{'':12}" + "".join(f"{f'{c} client(s)':>16}" for c in LEVELS) + f"{'p50 @1 ms':>12}")
    for name, by_level in results.items():
        print(f"{name:12}" + "".join(f"{by_level[c][0]:>14}/s" for c in LEVELS) + f"{by_level[1][1]:12.1f}")
    print(f"{'CPU ms/req':12}" + "".join(f"{'':>16}" for _ in LEVELS))
    for name, by_level in results.items():
        print(f"{name:12}" + "".join(f"{by_level[c][3]:>13.2f} ms" for c in LEVELS))
    for name in results.keys() - {"bare"}:
        ratios = "  ".join(f"{c}: {results[name][c][0] / results['bare'][c][0]:.2f}" for c in LEVELS)
        print(f"ratio {name} / bare: {ratios}")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, by_level in results.items():
        if name == "bare":
            continue
        for c in LEVELS:
            target, met = ("", None)
            if c == 16:
                embedded_mode = name.startswith("embedded")
                goal = 1000 if embedded_mode else 500
                target = f"≥ {goal:,}/s" + (" and ≥ 0.2 × bare" if embedded_mode else "")
                met = by_level[c][0] >= goal and (not embedded_mode or by_level[c][0] >= 0.2 * results["bare"][c][0])
            record("submit", f"{name}, {c} client(s)", by_level[c][0], "submissions/s", baseline=results["bare"][c][0],
                   baseline_name="bare FastAPI endpoint", target=target, met=met)
        record("submit", f"{name}, p50 at 1 client", by_level[1][1], "ms", baseline=results["bare"][1][1],
               baseline_name="bare FastAPI endpoint")
        record("submit", f"{name}, server CPU per submission at 16 clients", by_level[16][3], "ms",
               baseline=results["bare"][16][3], baseline_name="bare FastAPI endpoint")
    print("targets (issue 17): embedded ≥ 1,000/s at 16 clients and ≥ 0.2 × bare; kafka+pg ≥ 500/s at 16 clients "
          "(two API processes); p50 at 1 client not worse than before")


if __name__ == "__main__":
    main()
