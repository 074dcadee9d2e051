"""File primitives of the portal: an exclusive lock on the site, atomic page writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def site_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Exclusive lock on the whole site (threads of one process and processes sharing the directory).

    Every call opens its own file description, so two threads of one process exclude each other too.
    `shared`: for readers that only write pages derived from the index (an archive import's renderer
    processes): they run side by side, while deliveries and refreshes, which change the index, wait.
    """
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
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
    # A name no other writer uses (process and thread): cheaper than mkstemp's random names, which cost
    # more than the write itself when an archive import writes 100,000 pages.
    temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TEMP_SUFFIX}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # whatever the umask: the web server must read the pages
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return True


def make_durable(paths: Iterable[Path]) -> None:
    """fsync files written with `durable=False`, then their directories (the renames)."""
    folders = set()
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # withdrawn since: nothing left to make durable
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folders.add(path.parent)
    for folder in sorted(folders):
        fsync_dir(folder)


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
