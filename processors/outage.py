"""What counts as an infrastructure outage: waited out by both hosts, never dead-lettered (issue 10, defect 3)."""

from __future__ import annotations

import errno
import logging
import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from processors.bus import BusUnavailable

# Disk and file-system conditions an operator fixes (free space, remount), not faults of one input.
OUTAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ENOMEM})


def is_outage(exc: BaseException) -> bool:
    """Infrastructure that is down (database, disk, bus) rather than an input the stage cannot handle.

    Outages are retried until they end: parking status updates on the dead-letter topic because
    PostgreSQL restarted would leave publications stuck at "delivering", and dead-lettering
    deliveries because a disk was full for five minutes loses work an operator can simply resume.
    """
    return isinstance(exc, OperationalError | InterfaceError | BusUnavailable | OSError | TimeoutError
                      | sqlite3.OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def is_disk_outage(exc: OSError) -> bool:
    return exc.errno in OUTAGE_ERRNOS


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a periodic task's failure: an outage as one warning line in the words every stage's outage line uses
    (operators search for them; a traceback a second for as long as PostgreSQL is down helps nobody), anything
    else with its traceback."""
    if is_outage(exc):
        log.warning("%s failed (infrastructure outage: waiting): %s: %s", what, type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "")
    else:
        log.error("%s failed", what, exc_info=exc)
