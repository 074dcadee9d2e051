"""政策文件库: the portal's policy documents, filterable by 发文机关, year, 文号, 主题分类, 有效性 and 规范性文件.

One row per live policy (rowid = the entry's `seq`), its issuing organs in a second table (joint
issuing names several), kept in step with the entries by adapters.portal.store. Each facet is
counted under every other active filter, so a reader sees how many documents each choice leaves.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from adapters.common.views import PortalEntry
from schemas.publication import Kind, Publication

SCHEMA = """
CREATE TABLE IF NOT EXISTS policies (
    seq INTEGER PRIMARY KEY, year INTEGER NOT NULL, doc_no TEXT NOT NULL, theme TEXT NOT NULL,
    validity TEXT NOT NULL, normative INTEGER NOT NULL, sort TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS policies_sort ON policies (sort);
CREATE INDEX IF NOT EXISTS policies_year ON policies (year);
CREATE INDEX IF NOT EXISTS policies_theme ON policies (theme);
CREATE TABLE IF NOT EXISTS policy_issuers (seq INTEGER NOT NULL, issuer TEXT NOT NULL, PRIMARY KEY (seq, issuer));
CREATE INDEX IF NOT EXISTS policy_issuers_issuer ON policy_issuers (issuer);
"""
PER_PAGE = 20
FACETS = ("issuer", "year", "theme", "validity", "normative")
FACET_LABELS = {"issuer": "发文机关", "year": "成文年份", "theme": "主题分类", "validity": "有效性", "normative": "规范性文件"}
_COLUMN = {"year": "p.year", "theme": "p.theme", "validity": "p.validity", "normative": "p.normative"}


def create(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def put(db: sqlite3.Connection, seq: int, entry: PortalEntry, pub: Publication, *, fresh: bool = False) -> None:
    if not fresh:  # a revision replaces its row (and may no longer be a policy)
        remove(db, seq)
    if pub.kind is not Kind.policy:
        return
    sort = f"{entry.publish_date.isoformat()}|{entry.updated.isoformat()}|{entry.id}"
    db.execute("INSERT INTO policies (seq, year, doc_no, theme, validity, normative, sort) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (seq, pub.written_date.year, pub.doc_no, pub.theme.split("\\")[0], pub.validity.value, int(pub.normative), sort))
    db.executemany("INSERT OR IGNORE INTO policy_issuers (seq, issuer) VALUES (?, ?)",
                   [(seq, issuer) for issuer in entry.issuing_organs])


def remove(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM policies WHERE seq = ?", (seq,))
    db.execute("DELETE FROM policy_issuers WHERE seq = ?", (seq,))


@dataclass(frozen=True)
class Filters:
    issuer: str = ""
    year: int | None = None
    doc_no: str = ""
    theme: str = ""
    validity: str = ""
    normative: bool | None = None

    def active(self) -> dict[str, str]:
        """The filters set, as query parameters."""
        values = {"issuer": self.issuer, "year": str(self.year or ""), "doc_no": self.doc_no, "theme": self.theme,
                  "validity": self.validity, "normative": "" if self.normative is None else ("1" if self.normative else "0")}
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Listing:
    filters: Filters
    total: int
    entries: tuple[PortalEntry, ...]
    interpretations: dict[str, tuple[PortalEntry, ...]]
    facets: dict[str, tuple[FacetValue, ...]] = field(default_factory=dict)
    page: int = 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PER_PAGE))


def _where(filters: Filters, skip: str = "") -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if filters.issuer and skip != "issuer":
        clauses.append("p.seq IN (SELECT seq FROM policy_issuers WHERE issuer = ?)")
        params.append(filters.issuer)
    for name in ("year", "theme", "validity"):
        value = getattr(filters, name)
        if value and skip != name:
            clauses.append(f"{_COLUMN[name]} = ?")
            params.append(value)
    if filters.normative is not None and skip != "normative":
        clauses.append("p.normative = ?")
        params.append(int(filters.normative))
    if filters.doc_no:
        clauses.append("p.doc_no LIKE ? ESCAPE '\\'")
        params.append("%" + filters.doc_no.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _facet(db: sqlite3.Connection, filters: Filters, name: str) -> tuple[FacetValue, ...]:
    where, params = _where(filters, skip=name)
    if name == "issuer":
        sql = f"SELECT i.issuer, count(*) FROM policies p JOIN policy_issuers i ON i.seq = p.seq{where} GROUP BY 1 ORDER BY 2 DESC, 1"
    else:
        order = "1 DESC" if name == "year" else "2 DESC, 1"
        sql = f"SELECT {_COLUMN[name]}, count(*) FROM policies p{where} GROUP BY 1 ORDER BY {order}"
    chosen = filters.active().get(name, "")
    out = []
    for value, count in db.execute(sql, params):
        text = str(value)
        label = ({"1": "是", "0": "否"}[text] if name == "normative" else f"{text}年" if name == "year" else text)
        out.append(FacetValue(text, label, int(count), text == chosen))
    return tuple(out)


def listing(store: object, filters: Filters, page: int = 1) -> Listing:
    """One page of policies under `filters`, newest first, with counts per facet value and interpretations."""
    db: sqlite3.Connection = store.db  # type: ignore[attr-defined]
    where, params = _where(filters)
    total = int(db.execute(f"SELECT count(*) FROM policies p{where}", params).fetchone()[0])
    rows = db.execute(f"SELECT e.entry FROM policies p JOIN entries e ON e.seq = p.seq{where} ORDER BY p.sort DESC "
                      "LIMIT ? OFFSET ?", (*params, PER_PAGE, (page - 1) * PER_PAGE)).fetchall()
    entries = [PortalEntry.model_validate_json(r[0]) for r in rows]
    graph = store.neighbourhood(entries)  # type: ignore[attr-defined]
    interpretations = {e.id: tuple(graph.entries[i] for i in graph.interpreted_by(e)) for e in entries}
    facets = {name: _facet(db, filters, name) for name in FACETS}
    return Listing(filters, total, tuple(entries), interpretations, facets, page)
