"""`govcast subscribers import FILE.csv`: bulk-load the push directory.

Header: schemas.subscriber.CSV_HEADER (list fields separated by `|`). Every bad row is reported
on stderr with its line number and reason and does not stop the good ones; a progress bar runs
on stderr. Exit status: 0 all rows imported, 1 some rows rejected (the good ones are in), 2 the
file cannot be read at all (or, in Kafka mode, the broker stopped taking the changes: the rows
before are imported, the rest not).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy import Engine

from adapters.egress import networks, url_problem
from persistence import audit
from persistence.subscribers import ChangeHook, SubscriberStore
from processors.bus import BusUnavailable
from schemas.subscriber import CSV_HEADER, SubscriberIn, from_csv_row

BATCH = 2000


def reason_of(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


class Progress:
    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out, self.last = max(total, 1), out, 0.0

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        filled = int(30 * done / self.total)
        self.out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{self.total:,} rows" + ("\n" if final else ""))
        self.out.flush()


def _upsert(store: SubscriberStore, batch: list[SubscriberIn], err: TextIO, imported: int) -> bool:
    try:
        store.upsert_many(batch, origin="imported")
        return True
    except BusUnavailable as exc:  # Kafka mode: the batch is not in the database either; the earlier ones are
        print(f"\ngovcast subscribers import: the broker did not take the directory changes ({exc}); stopped "
              f"after {imported:,} rows, which are imported. Run the import again when the broker is back "
              f"(importing the same rows again changes nothing).", file=err)
        return False


def import_csv(engine: Engine, path: Path, err: TextIO = sys.stderr, on_change: ChangeHook | None = None,
               allowed_networks: Sequence[str] = ()) -> int:
    """`on_change`: Kafka mode's directory topic hook (each batch is produced before it commits). Webhook URLs get
    the SSRF guard's static checks (no DNS lookups for 100,000 rows: names are checked when a webhook is sent)."""
    allowed = networks(allowed_networks)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            total = max(sum(1 for _ in fh) - 1, 0)
    except OSError as exc:
        print(f"govcast subscribers import: cannot read {path}: {exc}", file=err)
        return 2
    store = SubscriberStore(engine, on_change=on_change)
    started, imported, bad = time.monotonic(), 0, 0
    seen: dict[str, int] = {}
    batch: list[SubscriberIn] = []
    progress = Progress(total, err)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_HEADER if c not in (reader.fieldnames or [])]
        if missing:
            print(f"govcast subscribers import: the header lacks {', '.join(missing)}; expected "
                  f"{','.join(CSV_HEADER)}", file=err)
            return 2
        done = 0
        for row in reader:
            done += 1
            line = reader.line_num
            try:
                sub = from_csv_row(row)
            except ValidationError as exc:
                bad += 1
                err.write(f"\nline {line}: {reason_of(exc)}")
                continue
            if sub.webhook_url and (why := url_problem(sub.webhook_url, allowed, resolve=False)):
                bad += 1
                err.write(f"\nline {line}: webhook_url {why}")
                continue
            if sub.credit_code in seen:
                bad += 1
                err.write(f"\nline {line}: credit_code {sub.credit_code} already given on line {seen[sub.credit_code]}")
                continue
            seen[sub.credit_code] = line
            batch.append(sub)
            if len(batch) >= BATCH:
                if not _upsert(store, batch, err, imported):
                    return 2
                imported += len(batch)
                batch = []
            progress.show(done)
        if batch:
            if not _upsert(store, batch, err, imported):
                return 2
            imported += len(batch)
        if bad:
            err.write("\n")
        progress.show(done, final=True)
    # one audit entry per import (not one per row: imports run to 100,000 businesses)
    audit.record_now(engine, None, "subscriber.import", path.name[:60], {"imported": imported, "rejected": bad})
    print(f"imported {imported:,} subscribers, rejected {bad:,} rows in {time.monotonic() - started:.1f} s", file=err)
    return 1 if bad else 0
