"""`govcast run --api-processes N`: several processes serve the API on one port, one runs the pipeline.

Killing them is tested in tests/chaos/test_embedded_kills.py; what they are worth in tests/bench/bench_submit.py.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from govcast.pipeline_report import STALE_SECONDS
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess, cli, free_port

pytestmark = pytest.mark.slow

SEVERAL = {"GOVCAST_SANDBOXES": "false", "GOVCAST_CHANNELS": "portal"}


def test_sandbox_mode_refuses_several_api_processes(tmp_path: Path) -> None:
    """The sandbox platforms and the pipeline clock live in one process: another one would answer their requests."""
    done = cli("run", "--data-dir", str(tmp_path), "--port", str(free_port()), "--api-processes", "2",
               env={"GOVCAST_SANDBOXES": "true"})
    assert done.returncode == 2
    assert "sandbox mode" in done.stderr


def test_submissions_to_every_api_process_are_delivered(tmp_path: Path) -> None:
    """Each submission opens its own connection, so both processes take some; all reach the portal, each once,
    with distinct 索引号, and the console and portal answer from any process."""
    process = GovcastProcess(tmp_path / "data", extra_args=["--api-processes", "2"], env=SEVERAL).start()
    try:
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))

        def submit(i: int) -> str:
            response = client.submit(sample_policy(title=f"多进程测试通知第{i}号", channels=["portal"]))
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=4) as pool:
            ids = list(pool.map(submit, range(24)))
        bodies = [client.wait_for(pub_id, "delivered", timeout=60) for pub_id in ids]
        assert len({body["index_no"] for body in bodies}) == len(ids)
        for body in bodies:
            delivered = [e for e in body["timeline"] if e["status"] == "delivered"]
            assert len(delivered) == 1
            # woken by the accepting process's nudge, not by a slow poll: well under the 30 s timeout above
            waited = dt.datetime.fromisoformat(delivered[0]["at"]) - dt.datetime.fromisoformat(body["submitted_at"])
            assert waited < dt.timedelta(seconds=10)
        for _ in range(6):  # fresh connections: any process answers the rest of the app too
            assert requests.get(f"{process.url}/portal/", timeout=10).status_code == 200
            assert requests.get(f"{process.url}/readyz", timeout=10).status_code == 200
    finally:
        process.stop()
    assert "died with exit code" not in process.output()  # no API process crashed on the way


def test_readiness_from_an_extra_api_process_tells_the_main_process_pipeline(tmp_path: Path) -> None:
    """The pipeline runs in the main process only. Stopped (SIGSTOP: hung), it accepts no connections, so the
    child answers every /readyz: 503 once the main process's report is stale, 200 again once it runs."""
    process = GovcastProcess(tmp_path / "data", extra_args=["--api-processes", "2"], env=SEVERAL).start()
    assert process.proc is not None
    try:
        for _ in range(4):
            assert requests.get(f"{process.url}/readyz", timeout=10).status_code == 200
        os.kill(process.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(STALE_SECONDS + 2)
            answers = [requests.get(f"{process.url}/readyz", timeout=10) for _ in range(4)]
        finally:
            os.kill(process.proc.pid, signal.SIGCONT)
        assert {a.status_code for a in answers} == {503}, [a.text for a in answers]
        assert "no report from the main process" in answers[0].json()["detail"]
        deadline = time.monotonic() + 20
        while requests.get(f"{process.url}/readyz", timeout=10).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [requests.get(f"{process.url}/readyz", timeout=10).status_code for _ in range(4)] == [200] * 4
    finally:
        process.stop()
