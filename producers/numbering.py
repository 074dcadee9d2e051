"""Submissions numbered at the end of their group-commit batch: the 索引号 counter row is locked for the last statements only.

A department's counter row stays locked from the allocation of a number to the commit (a batch that rolls
back gives its numbers back: a failed submission uses no 索引号), and a batch of another API process that
submits for the same department waits for it. So a submission whose number is allocated (the department
sent none) is built in full -- normalized document, publication row, audit row, outbox event, answer -- with
a *stand-in* 索引号 and queued for the end of the batch; the batch's first flush (`at_batch_end(runs_first=True)`)
allocates the numbers of all such submissions in one statement per department and year, then puts each
real number in place of its stand-in in the rows the later flushes insert. The lock covers the allocation,
the inserts and the commit; the building of rows and JSON happens before it is taken.

The stand-in's sequence is 10 random digits drawn per submission (real sequences have 5 or 7): it is found
by its full text (`code/year-sequence`) and by the JSON of the whole `index` object, never as a bare number,
so a number in a department's text is never touched.

Also here: the 索引号 a department sent (checked free) and the allocation of the next free ones, which a batch's
first ask makes for every submission of the batch that will ask (`expect_index`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from persistence.engine import batch_memo
from persistence.store import StatusStore
from producers.errors import Conflict, FieldError
from schemas.publication import IndexNo, Publication, PublicationIn

INDEX_WIDTH = 5  # digits of an allocated sequence

_FIRST = 1_000_000_000  # 10 digits: the most a 索引号 sequence may have (schemas.vocab.INDEX_NO_RE)
_SPAN = 9_000_000_000


def stand_in(code: str, year: int, width: int) -> IndexNo:
    """A 索引号 of `code` and `year` to build a submission with until its number is allocated."""
    return IndexNo(code=code, year=year, sequence=_FIRST + secrets.randbelow(_SPAN), width=width)


@dataclass
class Unnumbered:
    """A submission built with `stand_in`: what must change once its number is known."""

    stand_in: IndexNo
    publication: Publication  # the answer's publication (Outcome.publication)
    answer: dict[str, Any]  # the 202 body
    rows: list[dict[str, Any]]  # rows queued for the batch's end, whose text columns carry the stand-in
    documents: list[Any]  # JSON forms of the publication (dicts): remembered by processors.wire, kept true

    def number(self, index: IndexNo) -> None:
        """Put `index` in place of the stand-in everywhere (the queued rows are not written yet)."""
        old_text, new_text = str(self.stand_in), str(index)
        old_json, new_json = self.stand_in.model_dump_json(), index.model_dump_json()
        for row in self.rows:
            for column, value in row.items():
                if isinstance(value, str) and (old_text in value or old_json in value):
                    row[column] = value.replace(old_json, new_json).replace(old_text, new_text)
        self.answer["index_no"] = new_text
        for document in self.documents:
            if isinstance(document, dict):
                document.update(index=index.model_dump(mode="json"), index_no=new_text)
        self.publication.index = index
        self.publication.index_no = new_text


def sent_index(store: StatusStore, conn: Connection, data: PublicationIn, pub_id: str) -> IndexNo | None:
    """The 索引号 the department sent, once checked free; None when it left it to us."""
    if not data.index_no:
        return None
    index = IndexNo.parse(data.index_no)
    if store.index_no_taken(conn, str(index), except_id=pub_id):
        raise Conflict(
            f"索引号 {index} is already in use",
            [FieldError("body.index_no", "already used by another publication; leave it out to have one allocated")],
        )
    return index


def expect_index(conn: Connection, code: str, year: int, pub_id: str) -> None:
    """A staged submission of this batch will ask for a 索引号 of (code, year): counted so the first ask allocates
    for all. The same Idempotency-Key twice in one batch (one publication id) counts once: the second replays."""
    if (memo := batch_memo(conn)) is not None:
        memo.setdefault(f"索引号 wanted {code} {year}", set()).add(pub_id)


def allocated_index(store: StatusStore, conn: Connection, code: str, year: int) -> IndexNo:
    """The next free 索引号 of the department and year. Inside a group-commit batch the first submission to
    ask allocates for every submission of the batch that will (`expect_index`), in one statement, and the
    others take theirs from that pool; the counter row is locked from then to the commit."""
    memo = batch_memo(conn)
    wanted = max(1, len(memo.pop(f"索引号 wanted {code} {year}", ()))) if memo is not None else 1
    return allocated_indexes(store, conn, code, year, 1, ask=wanted)[0]


def allocated_indexes(store: StatusStore, conn: Connection, code: str, year: int, count: int, *,
                      ask: int = 0) -> list[IndexNo]:
    """The next `count` free 索引号 of the department and year, first from the batch's pool (numbers an earlier
    ask of the batch allocated for all), else allocated in one statement (at least `ask`, the rest pooled)."""
    memo = batch_memo(conn)
    pool: list[IndexNo] = memo.setdefault(f"索引号 pool {code} {year}", []) if memo is not None else []
    numbers: list[IndexNo] = []
    for _ in range(10_000):  # skip numbers a department already sent explicitly
        while pool and len(numbers) < count:
            numbers.append(pool.pop(0))
        if len(numbers) == count:
            return numbers
        fresh = [IndexNo(code=code, year=year, sequence=n, width=INDEX_WIDTH)
                 for n in store.next_index_sequences(conn, code, year, max(ask, count - len(numbers)))]
        taken = store.index_nos_taken(conn, [str(i) for i in fresh])
        pool.extend(i for i in fresh if str(i) not in taken)
        ask = 0
    raise Conflict(f"could not allocate a free 索引号 for {code}/{year}")


def same_index(a: IndexNo, b: IndexNo) -> bool:
    """The same 索引号 whatever the width it was written with."""
    return (a.code, a.year, a.sequence) == (b.code, b.year, b.sequence)
