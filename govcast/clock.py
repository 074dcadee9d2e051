"""The pipeline's clock: real time, optionally shifted for demos and tests in sandbox mode.

Quiet hours, daily caps, scheduled releases and retry times all read this clock, so a test can
start the system at 23:00 Beijing time (`GOVCAST_CLOCK_START`) and move it to the morning
(`POST /sandbox/_clock`). Production never shifts it: both are refused unless sandboxes are on.
"""

from __future__ import annotations

import datetime as dt
import threading


class PipelineClock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self.offset = (start - dt.datetime.now(dt.UTC)).total_seconds() if start else 0.0

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> dt.datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds
        return self.now()

    def describe(self) -> dict[str, object]:
        return {"now": self.now().isoformat(), "offset_seconds": round(self.offset, 3)}
