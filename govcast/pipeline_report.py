"""Readiness of the pipeline for the extra API processes of `govcast run --api-processes N`.

The pipeline runs in the main process only, so a child's /readyz cannot ask it directly. The main process
writes what its pipeline reports (the tasks that are down) to a small file in the data directory once a second;
a child's /readyz reads it. A report that is missing, from another process than the child's parent (a previous
run's), or older than STALE_SECONDS (the main process hangs or is stopped) makes the child answer 503 too, so a
load balancer probing any process learns the truth.

Ages use time.monotonic(): on Linux CLOCK_MONOTONIC is one clock for every process, and wall-clock steps
(NTP) do not make a fresh report look stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger("govcast.pipeline_report")

FILE_NAME = "pipeline-report.json"
WRITE_SECONDS = 1.0
STALE_SECONDS = 10.0  # ten missed writes: the main process's event loop is stuck, not merely busy


class ReportsProblems(Protocol):
    def problems(self) -> list[str]: ...


def report_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write_report(path: Path, problems: list[str]) -> None:
    """Replace the report atomically (a reader never sees half a file); no fsync: it is rewritten every second."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"pid": os.getpid(), "at": time.monotonic(), "problems": problems}), encoding="utf-8")
    os.replace(tmp, path)


async def publish_reports(host: ReportsProblems, path: Path, every: float = WRITE_SECONDS) -> None:
    """The main process: write `host`'s problems every `every` seconds until cancelled, then remove the report."""
    try:
        while True:
            try:
                write_report(path, host.problems())
            except OSError:  # a full disk: the children see a stale report and say not ready, as they should
                log.exception("writing the pipeline report for the other API processes failed")
            await asyncio.sleep(every)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


class ReportReader:
    """A child API process's view of the main process's pipeline (`problems()`, as the pipeline host has)."""

    def __init__(self, path: Path, parent: int, stale_after: float = STALE_SECONDS) -> None:
        self.path, self.parent, self.stale_after = path, parent, stale_after

    def problems(self) -> list[str]:
        try:
            report = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ["pipeline: the main process has not reported its pipeline yet"]
        except (OSError, ValueError) as exc:
            return [f"pipeline: the main process's report cannot be read ({exc})"]
        if report.get("pid") != self.parent:
            return ["pipeline: the main process has not reported its pipeline yet"]
        age = time.monotonic() - float(report.get("at", 0))
        if age > self.stale_after:
            return [f"pipeline: no report from the main process (pid {self.parent}) for {age:.0f} s"]
        return [str(p) for p in report.get("problems", [])]
