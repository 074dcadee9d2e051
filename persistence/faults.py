"""Named kill points for crash tests: `GOVCAST_KILL_AT=step` (or `step:N`, the Nth time it is reached) SIGKILLs the process there.

Unset in production, where `kill_point` returns at once (the variable is read at import). Tests set it on a
real subprocess to prove that a crash between any two steps of a write path loses nothing
and duplicates nothing.
"""

from __future__ import annotations

import functools
import os
import signal
import threading

ENV = "GOVCAST_KILL_AT"

_hits: dict[str, int] = {}
_lock = threading.Lock()


@functools.cache
def _parse(spec: str) -> tuple[str, int]:
    step, _, nth = spec.rpartition(":")  # steps contain ":" themselves ("commit:inside:3")
    return (step, int(nth)) if nth.isdigit() else (spec, 1)


_SPEC = os.environ.get(ENV)  # read once: a crash test starts the process with it (a lookup per request otherwise)


def kill_point(step: str) -> None:
    spec = _SPEC
    if not spec:
        return
    target, nth = _parse(spec)
    if target != step:
        return
    with _lock:
        _hits[step] = _hits.get(step, 0) + 1
        if _hits[step] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
