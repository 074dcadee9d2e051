"""The Kafka worker with its PostgreSQL store stopped for longer than the poison-input budget: the outage is waited
out, nothing is dead-lettered, and every publication ends delivered exactly once (issue 10, defect 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.test_kafka_scaling import (
    DELIVERY_TIMEOUT,
    Cluster,
    Publisher,
    assert_each_delivered_exactly_once,
    eventually,
)
from tests.kafka_fixtures import KafkaBroker

POSTGRES_LOCAL = str(ROOT / "deploy" / "dev" / "postgres-local")
OUTAGE_SECONDS = 45  # before the fix, five failed attempts (2+4+8+16 s of backoff) dead-lettered a status update


@contextmanager
def private_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of this test's own (it is stopped and started again): (URL, data dir). Its directory is
    made under the system temp dir, not pytest's tmp_path: as root the server runs as user postgres, which
    cannot enter pytest's private (0700) base directory."""
    base = Path(tempfile.mkdtemp(prefix="govcast-pg-outage-"))
    env = {**os.environ, "GOVCAST_PG_DIR": str(base)}
    if subprocess.run([POSTGRES_LOCAL, "installed"], env=env, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; CI must have them")
        pytest.skip("PostgreSQL server binaries are not installed")
    subprocess.run([POSTGRES_LOCAL, "start"], env=env, check=True, capture_output=True, timeout=180)
    try:
        url = subprocess.run([POSTGRES_LOCAL, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        yield url, base / "data"
    finally:
        subprocess.run([POSTGRES_LOCAL, "stop"], env=env, check=False, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def pg_ctl(data: Path, *args: str) -> None:
    """Stop or start the server in place (same port, same data): `postgres-local start` would pick a new port."""
    binary = next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), None) or Path("pg_ctl")
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*owner, str(binary), "-D", str(data), "-w", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.slow
@pytest.mark.postgres
def test_worker_waits_out_a_stopped_postgresql_and_delivers_everything_once(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    kafka_broker.skip_to_end()
    with private_postgres() as (url, data):
        cluster = Cluster(kafka_broker, tmp_path, env={"GOVCAST_STORE_URL": url})
        try:
            client = cluster.start_api()
            cluster.start_worker("w")
            cluster.wait_ready("w")
            ids = Publisher(client, 30, "库停机").start().join()
            eventually(lambda: cluster.delivered_count(client) >= 3, DELIVERY_TIMEOUT, "the first deliveries")

            pg_ctl(data, "-m", "fast", "stop")
            try:
                time.sleep(OUTAGE_SECONDS)
                assert cluster.procs["w"].poll() is None, cluster.log("w")[-3000:]
            finally:
                pg_ctl(data, "-l", str(data.parent / "server.log"), "start")

            # "delivered" is what the status projection recorded: a status update dead-lettered during the
            # outage would leave its publication "delivering" for good.
            assert_each_delivered_exactly_once(cluster, client, ids)
            assert "infrastructure outage: waiting" in cluster.log("w")  # the outage was seen, and waited out
        finally:
            cluster.close()
