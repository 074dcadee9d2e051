"""Coalescing refresher: site-wide pages are rewritten at most once per interval, whatever the delivery rate.

The dirty marks live in the portal store, so a refresh owed when a process is killed is done by the
next refresh of any process sharing the site (the first delivery after a restart requests one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("govcast.adapters.portal")


class Refresher:
    def __init__(self, refresh: Callable[[], None], interval: float) -> None:
        self._refresh = refresh
        self.interval = interval
        self._guard = threading.Lock()
        self._busy = threading.Lock()  # held while a refresh runs: close() waits for it
        self._timer: threading.Timer | None = None
        self._closed = False

    def request(self) -> None:
        """A site-wide page is dirty: refresh now (interval 0) or once the interval has passed."""
        if self.interval <= 0 or self._closed:
            self._run()
            return
        with self._guard:
            if self._timer is not None:
                return  # already owed: this change is picked up by that refresh
            self._timer = threading.Timer(self.interval, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._guard:
            self._timer = None
        self._run()

    def _run(self) -> None:
        with self._busy:
            try:
                self._refresh()
            except Exception:  # a failed refresh leaves its marks: the next delivery requests another
                log.exception("portal refresh failed; retried after the next delivery")

    def close(self) -> None:
        """Cancel the timer, wait for a refresh in flight, then write what is still owed (in this thread)."""
        with self._guard:
            timer, self._timer, self._closed = self._timer, None, True
        if timer is not None:
            timer.cancel()
            self._run()
        else:
            with self._busy:  # a refresh the timer already started finishes before the caller closes the store
                pass
