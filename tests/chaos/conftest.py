"""The chaos suite prints its table at the end of the run (CI output), passed or failed."""

from __future__ import annotations

import os
import random

import pytest

from tests.chaos.report import ROWS, render


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("chaos: submitted, delivered, duplicates, losses, time to recover")
        terminalreporter.write_line(render(ROWS))
        bad = [r.scenario for r in ROWS if r.losses or r.duplicates]
        terminalreporter.write_line(f"rows with losses or duplicates: {', '.join(bad) if bad else 'none'}")


@pytest.fixture
def chaos_rng(request: pytest.FixtureRequest) -> random.Random:
    """Where the faults strike is random, and reproducible: GOVCAST_CHAOS_SEED replays a run (the seed is printed)."""
    seed = int(os.environ.get("GOVCAST_CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"{request.node.name}: GOVCAST_CHAOS_SEED={seed}")
    return random.Random(seed)
