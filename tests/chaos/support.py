"""What the chaos scenarios share: clients that retry like a department's CMS, disks that fill up, and counting
what the channels hold."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from govcast.samples import sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import index_entries


class Submissions:
    """Publications a department submits, each with its own Idempotency-Key.

    `once(i)` is one try (a dropped connection or a 503 leaves it unanswered); `settle()` is the client retrying
    everything with the same keys after the fault, checking each earlier 202 is replayed, not published again.
    """

    def __init__(self, tag: str, channels: list[str] | None = None, **fields: Any) -> None:
        self.tag, self.channels, self.fields = tag, channels or ["portal"], fields
        self.keys: list[str] = []
        self.answered: dict[str, str] = {}  # key -> publication id, from a 202
        self.lock = threading.Lock()

    def add(self, n: int) -> list[int]:
        start = len(self.keys)
        self.keys += [str(uuid.uuid4()) for _ in range(n)]
        return list(range(start, start + n))

    def payload(self, i: int) -> dict[str, Any]:
        return sample_policy(title=f"{self.tag}测试通知第{i + 1}号", channels=self.channels, **self.fields)

    def once(self, client: Client, i: int) -> requests.Response | None:
        try:
            response = client.submit(self.payload(i), key=self.keys[i])
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            return None  # the server died under us (before answering, or while its answer was on the way)
        assert response.status_code in (202, 503), response.text
        if response.status_code == 202:
            with self.lock:
                self.answered[self.keys[i]] = response.json()["id"]
        return response

    def many(self, client: Client, indices: list[int], threads: int = 2,
             after: Callable[[int], None] = lambda i: None) -> None:
        def one(i: int) -> None:
            self.once(client, i)
            after(i)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, indices))

    def settle(self, client: Client) -> list[str]:
        ids: list[str] = []
        for i, key in enumerate(self.keys):
            response = client.submit(self.payload(i), key=key)
            assert response.status_code == 202, response.text
            if key in self.answered:
                assert response.json()["id"] == self.answered[key]  # a replay of the answer the client had
            self.answered[key] = response.json()["id"]
            ids.append(response.json()["id"])
        assert len(set(ids)) == len(self.keys)  # one publication per key
        return ids


def portal_held(url: str) -> Counter[str]:
    """Publication id -> how often the portal's JSON index lists it (the portal's own `_inspect`)."""
    return Counter(e["id"] for e in index_entries(f"{url}/portal/index.json"))


def sandbox(process: GovcastProcess, platform: str) -> dict[str, Any]:
    answer = requests.get(f"{process.url}/sandbox/{platform}/_inspect", timeout=10)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def control(process: GovcastProcess, path: str, body: dict[str, Any]) -> None:
    """A sandbox control (`wechat/_faults`, `_clock`, …): operators only."""
    requests.post(f"{process.url}/sandbox/{path}", json=body, headers=process.operator_headers(),
                  timeout=10).raise_for_status()


def delivered_total(url: str, client: Client) -> int:
    response = requests.get(f"{url}/v1/publications", params={"status": "delivered", "per_page": 1},
                            headers={"Authorization": f"Bearer {client.token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def wait_delivered(url: str, client: Client, ids: list[str], timeout: float) -> float:
    """Wait until every id is delivered (the API's count); returns when that happened (monotonic)."""
    deadline = time.monotonic() + timeout
    while delivered_total(url, client) < len(ids):
        if time.monotonic() > deadline:
            break  # the row then counts the losses
        time.sleep(0.3)
    return time.monotonic()


def each_delivered_once(client: Client, ids: list[str], channel: str = "portal") -> list[dict[str, Any]]:
    """Every id is delivered, with exactly one `delivered` of `channel` in its timeline (version 1)."""

    def one(pub_id: str) -> dict[str, Any]:
        body = client.get(pub_id)
        assert body["status"] == "delivered", body
        delivered = [e for e in body["timeline"] if e["channel"] == channel and e["status"] == "delivered"]
        assert [e["version"] for e in delivered] == [1], body["timeline"]
        return body

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, ids))


# -- disks ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str = "48m") -> Iterator[Path]:
    """A real, small tmpfs mounted on `path` (needs root; skipped elsewhere)."""
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
