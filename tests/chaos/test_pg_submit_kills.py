"""Chaos, Kafka + PostgreSQL: two `govcast api` processes on one PostgreSQL, one SIGKILLed by itself at each named
step of the submit path (persistence.faults) while both take submissions without an Idempotency-Key -- the ones
numbered at the end of their group-commit batch (producers.numbering).

Every 202 is in the store once with the 索引号 it answered, the 索引号 of all stored publications run 1..N with
no number twice and none skipped (a batch killed before its commit gave its numbers back), the audit chain is
intact with one entry per publication, and the outbox is drained to Kafka after the restart.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence import audit
from persistence.engine import normalize_url
from persistence.tables import outbox, publications
from schemas.publication import IndexNo
from tests.chaos.test_kafka import private_postgres
from tests.conftest import PROCESS_DEFAULTS, ROOT, cli, free_port
from tests.kafka_fixtures import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

STEPS = ["commit:before", "commit:inside", "commit:after"]
PER_CLIENT = 8  # submissions per client and life: past any hit from 2 to 4


@contextmanager
def api(data: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`govcast api` on its own port: (URL, process); stopped (if still alive) on leaving."""
    port = free_port()
    with (data.parent / f"api-{port}.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "govcast.cli", "api", "--data-dir", str(data), "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            with suppress(requests.RequestException):
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"govcast api did not come up (exit {proc.poll()})")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def submit_until_refused(urls: list[str], token: str, answered: dict[str, str], label: str) -> None:
    """Two clients per URL post without a key until PER_CLIENT each or their server dies; 202s go to `answered`."""
    lock = threading.Lock()

    def client(url: str, n: int) -> None:
        for i in range(PER_CLIENT):
            body = sample_policy(title=f"PG 崩溃 {label} {n}-{i}", channels=["portal"])
            try:
                response = requests.post(f"{url}/v1/publications", json=body, timeout=30,
                                         headers={"Authorization": f"Bearer {token}"})
            except requests.RequestException:
                return  # the server died with the request: no answer, it may or may not be kept
            assert response.status_code == 202, response.text
            with lock:
                answered[response.json()["id"]] = response.json()["index_no"]

    threads = [threading.Thread(target=client, args=(url, n)) for n in range(2) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def test_sigkill_of_an_api_process_at_each_submit_step_on_postgresql(kafka_broker: KafkaBroker, tmp_path: Path,
                                                                       chaos_rng: random.Random) -> None:
    with private_postgres() as (store_url, _):
        env = {**PROCESS_DEFAULTS, "GOVCAST_STORE_URL": store_url, "GOVCAST_BROKER": kafka_broker.url,
               "GOVCAST_CHANNELS": "portal"}
        data = tmp_path / "data"
        made = cli("token", "create", "--data-dir", str(data), "--kind", "department", "--name", DEMO_DEPARTMENT["name"],
                   "--publisher-code", DEMO_DEPARTMENT["publisher_code"], env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        answered: dict[str, str] = {}
        with api(data, env) as (steady, _):
            for step in chaos_rng.sample(STEPS, len(STEPS)):
                hit = chaos_rng.randint(2, 4)
                with api(data, {**env, "GOVCAST_KILL_AT": f"{step}:{hit}"}) as (killed, proc):
                    submit_until_refused([steady, killed], token, answered, step)
                    assert proc.wait(timeout=30) == -9, f"kill point {step}:{hit} never fired"
            with api(data, env) as (restarted, _):  # the killed process's place taken again
                submit_until_refused([steady, restarted], token, answered, "after")
                engine = create_engine(normalize_url(store_url))
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with engine.connect() as conn:
                        if not conn.execute(select(func.count()).select_from(outbox)).scalar_one():
                            break
                    time.sleep(0.5)
        with engine.connect() as conn:
            stored = dict(conn.execute(select(publications.c.id, publications.c.index_no)).all())
            left = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        verdict = audit.verify(engine)
        submits = audit.entries(engine, audit.AuditFilter(action="publication.submit", limit=10_000))
        engine.dispose()
    assert {pub_id: stored.get(pub_id) for pub_id in answered} == answered  # every 202 kept, with its 索引号
    sequences = sorted(IndexNo.parse(index_no).sequence for index_no in stored.values())
    assert sequences == list(range(1, len(stored) + 1))  # none twice, none skipped by a killed batch
    assert verdict.intact, verdict.problems
    assert sorted(e["target"] for e in submits) == sorted(stored)  # one audit entry per kept publication
    assert left == 0  # every kept publication's message relayed to Kafka
