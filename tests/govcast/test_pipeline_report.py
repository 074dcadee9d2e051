"""What the main process's pipeline reports reaches an extra API process's /readyz (govcast/pipeline_report.py):
a task that is down, a report that never came, one left by a previous run, one gone stale."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from govcast.pipeline_report import ReportReader, publish_reports, report_path, write_report


class Host:
    """TEST DOUBLE of the embedded pipeline host: the tasks it reports down."""

    def __init__(self) -> None:
        self.down: list[str] = []

    def problems(self) -> list[str]:
        return list(self.down)


def test_the_child_reads_what_the_main_process_pipeline_reports(tmp_path: Path) -> None:
    path = report_path(tmp_path)
    reader = ReportReader(path, parent=os.getpid())
    host, seen = Host(), {}

    async def scenario() -> None:
        writer = asyncio.create_task(publish_reports(host, path, every=0.05))
        await asyncio.sleep(0.2)
        seen["healthy"] = reader.problems()
        host.down = ["consume-publications: OSError: No space left on device"]
        await asyncio.sleep(0.2)
        seen["down"] = reader.problems()
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        seen["stopped"] = reader.problems()

    asyncio.run(scenario())
    assert seen["healthy"] == []
    assert seen["down"] == ["consume-publications: OSError: No space left on device"]
    assert seen["stopped"] and "not reported" in seen["stopped"][0]  # the report goes with the main process


def test_a_previous_runs_or_a_stale_report_is_not_ready(tmp_path: Path) -> None:
    path = report_path(tmp_path)
    write_report(path, [])  # written by this process, read as if by a child of another parent: a previous run's
    assert "not reported" in ReportReader(path, parent=os.getpid() + 1).problems()[0]
    assert ReportReader(path, parent=os.getpid()).problems() == []
    time.sleep(0.3)
    stale = ReportReader(path, parent=os.getpid(), stale_after=0.2).problems()
    assert stale and "no report from the main process" in stale[0]
