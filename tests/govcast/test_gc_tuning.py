"""govcast's long-running processes collect garbage in larger steps, and still collect it."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT
from tests.push_support import business, write_csv

# Run in a child: the settings are process-wide and would change how the test process itself collects.
CHILD = textwrap.dedent("""
    import gc, weakref
    from govcast.gc_tuning import YOUNG_THRESHOLD, tune_for_service

    class Node:
        pass

    kept_from_start = [Node() for _ in range(1000)]
    tune_for_service()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() >= len(kept_from_start)  # start-up objects are never walked again

    # Cycles made while serving (a campaign's garbage) are still freed without an explicit collect.
    probes = []
    for _ in range(20 * YOUNG_THRESHOLD // 2):
        a, b = Node(), Node()
        a.other, b.other = b, a
        if len(probes) < 100:
            probes.append(weakref.ref(a))
    alive = sum(ref() is not None for ref in probes)
    assert alive == 0, f"{alive} of the first cycles still alive"
    print("ok")
""")


def test_service_gc_settings_keep_collecting_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


IMPORT = textwrap.dedent("""
    import gc, sys
    from govcast.cli import main
    from govcast.gc_tuning import YOUNG_THRESHOLD
    from persistence.store import StatusStore
    from persistence.subscribers import SubscriberStore

    csv_path, data_dir = sys.argv[1], sys.argv[2]
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD
    assert main(["subscribers", "import", csv_path, "--data-dir", data_dir]) == 0
    store = StatusStore(f"sqlite:///{data_dir}/status.db")
    print(SubscriberStore(store.engine).list(1, 0)[0], gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_freeze_count() > 0)
""")


def test_subscribers_import_collects_in_larger_steps(tmp_path: Path) -> None:
    """`govcast subscribers import` runs with the service settings: with the defaults the collector took about
    a fifth of a 100,000-row import's CPU (with them the import took 0.77 of the CPU, govcast/gc_tuning.py)."""
    rng = random.Random(3)
    csv_path = write_csv(tmp_path / "businesses.csv", [business(n, rng) for n in range(1, 301)])
    done = subprocess.run([sys.executable, "-c", IMPORT, str(csv_path), str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["300", "True", "True"]
