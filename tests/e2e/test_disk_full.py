"""A full disk under the status store (a real, small tmpfs): a 503 publishes nothing, a 202 is delivered once,
no 索引号 twice.

The store sits on its own small volume and the rest of the data dir does not: the bus then has
room while the store's commit fails, the window in which a two-write submit published what it
refused (issue 10, defect 1).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import index_entries


@contextlib.contextmanager
def small_disk(path: Path, size: str = "48m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left (ENOSPC); remove it to give the space back."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError):  # the last few bytes
            while True:
                f.write(b"\0" * 512)
    return filler


def payload(i: int) -> dict:  # type: ignore[type-arg]
    return sample_policy(title=f"磁盘已满测试通知第{i + 1}号", channels=["portal"])


@pytest.mark.slow
def test_full_disk_at_submit_answers_503_and_publishes_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        store = f"sqlite:///{disk / 'status.db'}"
        process = GovcastProcess(tmp_path / "data", env={"GOVCAST_STORE_URL": store}).start()
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        try:
            first = client.submit(payload(0), key="k-0").json()["id"]
            client.wait_for(first, "delivered")

            filler = fill(disk)
            keys = [f"k-{i}" for i in range(1, 9)]
            answers = {key: client.submit(payload(i + 1), key=key) for i, key in enumerate(keys)}
            codes = Counter(r.status_code for r in answers.values())
            assert set(codes) <= {202, 503}, {k: r.text for k, r in answers.items()}
            assert codes[503] > 0, "the disk was not full enough to refuse anything; the test proves nothing"
            for response in answers.values():
                if response.status_code == 503:
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert "nothing was accepted" in response.json()["detail"]
            accepted = {k: r.json()["id"] for k, r in answers.items() if r.status_code == 202}

            filler.unlink()
            process.stop()
            process.start()
            listed = requests.get(f"{process.url}/v1/publications", params={"per_page": 100},
                                  headers={"Authorization": f"Bearer {client.token}"}, timeout=10).json()
            assert sorted(item["id"] for item in listed["items"]) == sorted([first, *accepted.values()])  # 503s left nothing

            refused = sorted(k for k in keys if k not in accepted)
            ids = [first, *accepted.values()]
            for key in refused:  # the client retries what was refused, with the same key
                response = client.submit(payload(keys.index(key) + 1), key=key)
                assert response.status_code == 202 and "idempotent-replayed" not in response.headers
                ids.append(response.json()["id"])
            index_numbers = [client.wait_for(pub_id, "delivered", timeout=60)["index_no"] for pub_id in ids]
            assert len(set(index_numbers)) == len(ids) == 1 + len(keys)  # no 索引号 given twice
            entries = index_entries(f"{process.url}/portal/index.json")
            assert Counter(e["id"] for e in entries) == Counter(ids)  # each delivered once, nothing else published
        finally:
            process.stop()
            os.sync()
