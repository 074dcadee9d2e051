"""`govcast portal export --target DIR`: publish a copy of the static portal on another web server.

Copies changed files only (size and content compared), each through a temporary file and a rename,
in an order that never shows a link to a page the copy lacks yet: articles first, then column lists,
then the site-wide pages (home, feed, sitemap, JSON index); files gone from the source are deleted last.
Writes `redirects.map` beside DIR (an nginx map of the archive's old paths to their new URLs).
The portal index and the lock stay behind: search (/portal/search, /portal/go) is answered by a
govcast process that reads the index (docs/operations.md, "Portal on several web servers").
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from adapters.portal import PortalConfig
from adapters.portal.store import PortalStore

_SITE_WIDE = ("index.html", "sitemap.html", "404.html", "feed.xml")


def _public(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith((".", "_")) for part in rel.parts):
            files.append(rel)
    return files


def _stage(rel: Path) -> int:
    name = rel.as_posix()
    if len(rel.parts) == 1 and (name in _SITE_WIDE or name.startswith(("sitemap", "index"))):
        return 2  # site-wide pages link to everything else: last
    if rel.name.startswith("index"):
        return 1  # column lists
    return 0


def _same(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except FileNotFoundError:
        return False


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, temp)
        os.chmod(temp, 0o644)
        os.replace(temp, dst)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def export_tree(config: PortalConfig, target: Path, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    started = time.monotonic()
    source = config.root
    if not source.is_dir():
        print(f"govcast portal export: no portal at {source} yet", file=err)
        return 2
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        print("govcast portal export: the target must be outside the portal directory", file=err)
        return 2
    target.mkdir(parents=True, exist_ok=True)
    wanted = _public(source)
    copied = 0
    for rel in sorted(wanted, key=lambda r: (_stage(r), r.as_posix())):
        if not _same(source / rel, target / rel):
            _copy(source / rel, target / rel)
            copied += 1
    keep = set(wanted)
    removed = 0
    for rel in _public(target):
        if rel not in keep:
            (target / rel).unlink()
            removed += 1
    redirects = _redirect_map(config)
    map_file = target.with_name(target.name + "-redirects.map")
    map_file.write_text(redirects, encoding="utf-8")
    print(f"exported {len(wanted):,} files to {target} ({copied:,} copied, {removed:,} removed) and "
          f"{redirects.count(chr(10)):,} redirects to {map_file} in {time.monotonic() - started:.1f} s", file=err)
    return 0


def _redirect_map(config: PortalConfig) -> str:
    """nginx `map $uri $portal_redirect { … }` body lines: old path, new URL."""
    if not config.store_path.exists():
        return ""
    store = PortalStore(config.store_path)
    try:
        rows = store.db.execute("SELECT old_path, url FROM redirects ORDER BY old_path").fetchall()
    finally:
        store.close()
    return "".join(f"{_quote(old)} {_quote(url)};\n" for old, url in rows)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
