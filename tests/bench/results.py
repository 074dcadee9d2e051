"""Results of a benchmark script in a form `govcast bench` tabulates (govcast/bench.py).

A script calls `record(...)` once per figure next to what it prints. When `govcast bench` runs the
script it sets GOVCAST_BENCH_RESULTS to a file, and each call appends one JSON line to it; run by
hand, `record` does nothing and the script only prints.
"""

from __future__ import annotations

import json
import os
from typing import Any

ENV = "GOVCAST_BENCH_RESULTS"


def record(scenario: str, measure: str, value: float, unit: str, *, baseline: float | None = None,
           baseline_name: str = "", target: str = "", met: bool | None = None, group: str = "",
           note: str = "") -> None:
    """One figure. `baseline` is what the same run measured for the bare counterpart (same unit), so
    the table can show value / baseline; `target` says what DESIGN.md or the issue asks, `met` whether
    this run reached it; `group` names the scenario's growth step (e.g. "10,000 subscribers")."""
    path = os.environ.get(ENV)
    if not path:
        return
    row: dict[str, Any] = {"scenario": scenario, "group": group, "measure": measure, "value": value, "unit": unit,
                           "baseline": baseline, "baseline_name": baseline_name, "target": target, "met": met,
                           "note": note}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
