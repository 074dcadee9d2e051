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
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from schemas.publication import IndexNo, Publication

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
