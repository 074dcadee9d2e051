"""Ctrl-C on `govcast run`: the terminal sends SIGINT to the whole foreground process group (the extra API
processes too). It stops with one "stopped" line and exit code 130 (128 + SIGINT, as shells report an
interrupted command), no traceback, and nothing accepted is lost: after a restart every publication that got
its 202 is delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import PROCESS_DEFAULTS, ROOT, Client, GovcastProcess, free_port

pytestmark = pytest.mark.slow

ENV = {"GOVCAST_SANDBOXES": "false", "GOVCAST_CHANNELS": "portal"}  # several API processes need sandboxes off


def start_in_own_group(data_dir: Path, port: int, api_processes: int, log: Path) -> subprocess.Popen[str]:
    """`govcast run` leading its own process group, as a shell's foreground job is (pytest stays out of it)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcast.cli", "run", "--data-dir", str(data_dir), "--port", str(port),
         "--api-processes", str(api_processes)],
        stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True,
        env={**os.environ, **PROCESS_DEFAULTS, **ENV})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"govcast did not become ready:\n{log.read_text()}")


@pytest.mark.parametrize("api_processes", [1, 2])
def test_ctrl_c_stops_cleanly_and_loses_nothing(tmp_path: Path, api_processes: int) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "run.log"
    data_dir.mkdir()
    restarted = GovcastProcess(data_dir, port=port, env=ENV)  # the same data dir and port, after the Ctrl-C
    token = restarted.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
    proc = start_in_own_group(data_dir, port, api_processes, log)
    client = Client(f"http://127.0.0.1:{port}", token)
    try:
        accepted = []
        for i in range(12):
            response = client.submit(sample_policy(title=f"中断测试通知第{i}号", channels=["portal"]))
            assert response.status_code == 202, f"{response.status_code} {response.text}\n{log.read_text()[-3000:]}"
            accepted.append(str(response.json()["id"]))
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: right after the last 202, the pipeline still at work
        assert proc.wait(timeout=60) == 130, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert output.rstrip().splitlines()[-1] == "govcast run: stopped", output
    restarted.start()
    try:
        for pub_id in accepted:
            client.wait_for(pub_id, "delivered", timeout=60)
    finally:
        restarted.stop()
