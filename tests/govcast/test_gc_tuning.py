"""govcast's long-running processes collect garbage in larger steps, and still collect it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

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
