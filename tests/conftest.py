"""Shared test fixtures: a real govcast process on a free port, and HTTP helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT
from tests.kafka_fixtures import kafka_broker, kafka_url  # noqa: F401  (fixtures for every test module)

ROOT = Path(__file__).resolve().parent.parent
# The property and contract fuzzers (hypothesis, schemathesis) explore with a fresh seed on a laptop, where a
# failure is a finding to fix; in CI they replay one fixed sequence, so a gate cannot pass or fail by chance.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")
# The tests run govcast in sandbox mode (off by default): this process's Settings and every govcast it starts.
os.environ.setdefault("GOVCAST_SANDBOXES", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govcast.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)


# Site-wide portal pages written at once, since e2e tests read them right away; the coalescing refresher
# is tested in tests/adapters/test_portal.py and, after kill -9, in tests/chaos/test_embedded_kills.py.
# Rate limits off: e2e and load tests drive one token far beyond a department CMS's pace; the limits
# themselves are tested in tests/producers/test_rate_limits.py and tests/processors/test_ratelimit.py.
PROCESS_DEFAULTS = {"GOVCAST_PORTAL_REFRESH_SECONDS": "0", "GOVCAST_RATE_LIMIT_PER_SECOND": "0"}


@dataclass
class GovcastProcess:
    """`govcast run` as a user starts it, in its own data dir, on its own port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    log_path: Path | None = None
    _operator: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> GovcastProcess:
        self.log_path = self.data_dir.parent / f"govcast-{self.port}-{int(time.time() * 1000)}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "govcast.cli", "run", "--data-dir", str(self.data_dir), "--port", str(self.port),
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**os.environ, **PROCESS_DEFAULTS, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"govcast exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or slow under load
                pass
            time.sleep(0.1)
        self.stop()  # never leave a half-started govcast behind (it would join consumer groups)
        raise RuntimeError(f"govcast did not become ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def operator_headers(self) -> dict[str, str]:
        """`Authorization` of an operator token (made once per process): sandbox controls need one."""
        if not self._operator:
            self._operator = self.token("operator", "沙箱控制")
        return {"Authorization": f"Bearer {self._operator}"}

    def token(self, kind: str, name: str, publisher_code: str | None = None) -> str:
        args = ["token", "create", "--data-dir", str(self.data_dir), "--kind", kind, "--name", name]
        if publisher_code:
            args += ["--publisher-code", publisher_code]
        done = cli(*args, env=self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@dataclass
class Client:
    """A department's or operator's view of the API."""

    base: str
    token: str

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def submit(self, payload: dict[str, Any], key: str | None = None) -> requests.Response:
        return requests.post(f"{self.base}/v1/publications", json=payload, headers=self._headers(key), timeout=30)

    def revise(self, pub_id: str, payload: dict[str, Any]) -> requests.Response:
        return requests.put(f"{self.base}/v1/publications/{pub_id}", json=payload, headers=self._headers(None), timeout=30)

    def retract(self, pub_id: str, reason: str) -> requests.Response:
        return requests.post(f"{self.base}/v1/publications/{pub_id}/retract", json={"reason": reason},
                             headers=self._headers(None), timeout=30)

    def get(self, pub_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.base}/v1/publications/{pub_id}", headers=self._headers(None), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, pub_id: str, *statuses: str, version: int | None = None, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.get(pub_id)
            if body["status"] in statuses and (version is None or body["version"] == version):
                return body
            time.sleep(0.1)
        raise AssertionError(f"{pub_id} never reached {statuses} (version {version}); last: {body}")


HOSTS = ["embedded", "kafka"]  # e2e test bodies run once per host
# The Kafka host's tests need the real broker (tests/kafka_fixtures.py): marked, so `-m "not kafka"` leaves them out.
HOST_PARAMS = [pytest.param(h, marks=pytest.mark.kafka) if h == "kafka" else h for h in HOSTS]

_kafka_systems: list[GovcastProcess] = []


@pytest.fixture(scope="module", params=HOST_PARAMS)
def host(request: pytest.FixtureRequest) -> str:
    """The host the e2e modules run on: "embedded" (SQLite log) or "kafka" (`govcast run --broker`)."""
    return str(request.param)


def launch(request: pytest.FixtureRequest, host: str, data_dir: Path, env: dict[str, str] | None = None,
           extra_args: list[str] | None = None) -> GovcastProcess:
    """Start `govcast run` on `host` in its own data dir (on Kafka: against the session's test broker).

    Topic names and the consumer group "govcast" are fixed, so only one Kafka-host govcast may run at a
    time: a second one would take half of the first one's partitions and handle its publications with
    the wrong data dir. Starting a second one while another is up is a test bug and fails loudly.
    """
    args = list(extra_args or [])
    if host == "kafka":
        if running := [p for p in _kafka_systems if p.proc is not None and p.proc.poll() is None]:
            raise RuntimeError(f"a Kafka-host govcast is already running ({running[0].url}); stop it first")
        broker = request.getfixturevalue("kafka_broker")
        broker.skip_to_end()  # do not pick up what earlier tests left on the topics
        args += ["--broker", broker.url]
    process = GovcastProcess(data_dir, extra_args=args, env=dict(env or {}))
    if host == "kafka":
        _kafka_systems.append(process)
    return process.start()


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    """A running govcast (one per test module and host) that e2e tests drive over HTTP."""
    process = launch(request, host, tmp_path_factory.mktemp(f"govcast-{host}") / "data")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def department(system: GovcastProcess) -> Client:
    return Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))


@pytest.fixture(scope="module")
def other_department(system: GovcastProcess) -> Client:
    return Client(system.url, system.token("department", OTHER_DEPARTMENT["name"], OTHER_DEPARTMENT["publisher_code"]))


@pytest.fixture(scope="module")
def operator(system: GovcastProcess) -> Client:
    return Client(system.url, system.token("operator", "值班员"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that drove a govcast process shows the end of that process's log (CI shows nothing else)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or call.when != "call":
        return
    for name, value in getattr(item, "funcargs", {}).items():
        process = value if isinstance(value, GovcastProcess) else getattr(value, "system", None)
        if isinstance(process, GovcastProcess):
            lines = process.output().splitlines()[-60:]
            report.sections.append((f"govcast log of fixture {name!r} (last {len(lines)} lines)", "\n".join(lines)))
