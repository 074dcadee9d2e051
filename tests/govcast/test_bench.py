"""`govcast bench` plumbing: scripts' figures reach the tables and the JSON file (no real benchmark runs here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from govcast import bench

FIGURES = """
from tests.bench.results import record
record("demo", "rate", 50.0, "items/s", baseline=100.0, baseline_name="bare loop", target="≥ 0.50 × bare", met=True)
record("demo", "latency", 80.0, "ms", target="≤ 50 ms", met=False, group="10,000 items")
"""


def test_figures_become_tables_with_ratios_and_the_notes_after_the_section_stay(tmp_path: Path) -> None:
    doc, out = tmp_path / "benchmarks.md", tmp_path / "bench.json"
    doc.write_text("# Benchmarks\n\nHand-written notes that must survive.\n")
    scenarios = [bench.Scenario("demo", "a demo against its bare loop", ("-c", FIGURES)),
                 bench.Scenario("broken", "a script that fails", ("-c", "raise SystemExit(3)"))]

    outcomes = bench.run(scenarios, quick=True, markdown_path=doc, json_path=out, python=sys.executable)
    assert [o.returncode for o in outcomes] == [0, 3]
    text = doc.read_text()
    assert "| rate | 50.0 items/s | 100 items/s (bare loop) | 0.50 | ≥ 0.50 × bare | met |" in text
    assert "| 10,000 items: latency | 80.0 ms |  |  | ≤ 50 ms | **missed** |" in text
    assert "the script failed (exit 3)" in text
    assert "### How cost grows" in text and "load average" in text
    assert text.index(bench.END) < text.index("Hand-written notes that must survive.")

    bench.run(scenarios[:1], quick=True, markdown_path=doc, json_path=out, python=sys.executable)  # a second run
    again = doc.read_text()
    assert again.count(bench.BEGIN) == 1 and again.count("Hand-written notes") == 1 and "broken" not in again
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["machine"]["cores"]
    assert [f["measure"] for f in data["scenarios"][0]["figures"]] == ["rate", "latency"]


def test_every_scenario_names_a_script_that_exists() -> None:
    for scenario in (*bench.FULL, *bench.QUICK):
        module = scenario.argv[1]
        assert (bench.ROOT / (module.replace(".", "/") + ".py")).is_file(), scenario.name
