"""The console's text filter (title, 索引号, 文号) on both backends: answered from the trigram index of migration
0002, it finds what a substring match finds and follows every write (a new publication, a revision, a delete)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, inspect, select
from sqlalchemy import text as sql

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence import text_search
from persistence.listing import PageFilter, publications_page
from persistence.store import INDEX_NOS_TAKEN, StatusStore
from persistence.tables import publications
from processors.normalize import normalize
from schemas.publication import IndexNo, Publication, PublicationIn
from tests.persistence.test_migrations import PUBLICATION, load_previous_release
from tests.store_backends import BACKENDS, backend_url

DEPT = DEMO_DEPARTMENT["publisher_code"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as u:
        yield u


def publication(n: int, title: str, doc_no: str, version: int = 1) -> Publication:
    fields = PublicationIn.model_validate(sample_policy(title=title, doc_no=doc_no))
    return normalize(fields, publication_id=f"pub_text_{n}", version=version, department=DEPT,
                     index=IndexNo(code=DEPT, year=2026, sequence=n), submitted_at=dt.datetime(2026, 3, n, tzinfo=dt.UTC))


def found(store: StatusStore, text: str) -> list[str]:
    rows, _, _ = publications_page(store.engine, PageFilter(text=text), None)
    return sorted(r.id for r in rows)


def test_text_filter_finds_title_index_no_and_doc_no_and_follows_every_write(url: str) -> None:
    store = StatusStore(url)
    try:
        with store.transaction() as conn:
            store.upsert_publication(conn, publication(1, "关于优化营商环境的若干措施", "济政发〔2026〕3号"), "pending", ["portal"])
            store.upsert_publication(conn, publication(2, "关于做好防汛工作的通知", "济政办字〔2026〕17号"), "pending", ["portal"])
            store.upsert_publication(conn, publication(3, "2026年政务公开工作要点", ""), "pending", ["portal"])

        assert found(store, "营商环境") == ["pub_text_1"]  # in a title
        assert found(store, "办字〔2026〕17") == ["pub_text_2"]  # in a 文号
        assert found(store, f"{DEPT}/2026-00003") == ["pub_text_3"]  # a whole 索引号
        assert found(store, f"{DEPT.lower()}/2026-00003") == ["pub_text_3"]  # its check letter typed in lower case
        assert found(store, "关于") == ["pub_text_1", "pub_text_2"]  # two characters: no trigram, still found
        assert found(store, "GOVCAST") == found(store, "govcast") == []
        assert found(store, "措施 济政发") == []  # the end of one field and the start of the next is no match
        assert found(store, "100%") == [] and found(store, '"〔2026〕"') == []  # wildcards and quotes are literal
        assert found(store, "〔2026〕") == ["pub_text_1", "pub_text_2"]
        with pytest.MonkeyPatch.context() as patch:  # a text in more publications than the index's set is for
            patch.setattr(text_search, "SET_LIMIT", 1)
            assert found(store, "〔2026〕") == ["pub_text_1", "pub_text_2"]
            assert found(store, "营商环境") == ["pub_text_1"]

        with store.transaction() as conn:  # a revision changes the title: the index follows
            store.upsert_publication(conn, publication(1, "关于进一步优化政务服务的通知", "济政发〔2026〕3号", version=2),
                                     "pending", ["portal"])
        assert found(store, "营商环境") == []
        assert found(store, "优化政务服务") == ["pub_text_1"]

        with store.transaction() as conn:
            conn.execute(delete(publications).where(publications.c.id == "pub_text_2"))
        assert found(store, "防汛工作") == []
    finally:
        store.close()


def test_publications_stored_before_the_index_existed_are_found(url: str) -> None:
    load_previous_release(url)  # a store made before migration 0002: its rows are indexed by the upgrade
    store = StatusStore(url)
    try:
        title = store.publication(PUBLICATION).title  # type: ignore[union-attr]
        assert found(store, title[2:8]) == [PUBLICATION]
    finally:
        store.close()


def test_the_migration_builds_the_trigram_index_on_each_backend(url: str) -> None:
    store = StatusStore(url)
    try:
        names = inspect(store.engine)
        if store.engine.dialect.name == "sqlite":
            assert {text_search.FTS_TABLE, text_search.KEYS_TABLE} <= set(names.get_table_names())
        else:  # without these the filter still answers, by scanning every publication
            assert {i["name"] for i in names.get_indexes("publications")} >= text_search.TRIGRAM_INDEXES
    finally:
        store.close()


@pytest.mark.parametrize("url", [b for b in BACKENDS if b.id == "postgres"], indirect=True)
def test_looking_up_a_sent_index_no_uses_its_b_tree_not_the_trigram_index(url: str) -> None:
    """Every submission asks whether the 索引号 it is given is taken, while its department's counter row is locked.
    Answered from the trigram index (migration 0002 before 0003) each lookup read every publication of the
    department -- all their 索引号 share most trigrams -- and the submit path slowed as the table grew."""
    store = StatusStore(url)
    try:
        with store.transaction() as conn:
            store.upsert_publication(conn, publication(1, "关于优化营商环境的若干措施", "济政发〔2026〕3号"), "pending", ["portal"])
            conn.execute(sql(  # a department with a few thousand publications, as after a year or an archive import
                "INSERT INTO publications (id, department, kind, title, index_no, category, version, status, channels, "
                "publish_at, retracted, doc, created_at, updated_at, doc_no, publish_date, validity, related_ids) "
                "SELECT 'pub_bulk_' || n, department, kind, title || n, :code || '/2026-' || lpad(n::text, 5, '0'), "
                "category, version, status, channels, publish_at, retracted, doc, created_at, updated_at, doc_no, "
                "publish_date, validity, related_ids FROM publications, generate_series(2, 3000) AS n "
                "WHERE id = 'pub_text_1'").bindparams(code=DEPT))
        # No ANALYZE: the statistics of a table that grows all day lag behind it; then the planner took the
        # trigram index for `=`.
        wanted = [f"{DEPT}/2026-{n:05d}" for n in (17, 2999, 3001, 3002)]
        with store.engine.connect() as conn:
            assert store.index_nos_taken(conn, wanted) == {wanted[0], wanted[1]}
            lookup = INDEX_NOS_TAKEN.params(index_nos=wanted).compile(dialect=conn.dialect,
                                                                      compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {lookup}"))
            # Whether the filter's condition can use the index (its expression matches the index's), not whether the
            # planner prefers it at 3,000 rows -- a scan is cheaper there.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            search = select(publications.c.id).where(text_search.text_condition(conn, "若干措施2999")).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            search_plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {search}"))
        assert "trgm" not in plan, plan
        assert "publications_index_no_key" in plan, plan  # the UNIQUE constraint's B-tree
        assert "ix_publications_title_trgm" in search_plan, search_plan  # the console's filter keeps its index
        assert found(store, f"{DEPT.lower()}/2026-02999") == ["pub_bulk_2999"]
        assert found(store, "若干措施2999") == ["pub_bulk_2999"]
    finally:
        store.close()
