"""File primitives of the portal: an exclusive lock on the site, atomic page writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def site_lock(path: Path) -> Iterator[None]:
    """Exclusive lock on the whole site (threads of one process and processes sharing the directory).

    Every call opens its own file description, so two threads of one process exclude each other too.
    """
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> bool:
    """Replace `path` with `data` so readers see the old or the new file, never half of one.

    Unchanged content is not rewritten (stable mtime, no needless fsync). True when the file changed.
    `durable=False` skips the fsync: for pages derived from the index (lists, feed, sitemap),
    which the next refresh regenerates; the rename stays atomic for readers and for kill -9.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp creates 0600; the web server must read the pages
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return True


def fsync_dir(path: Path) -> None:
    """Make renames in `path` durable (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
