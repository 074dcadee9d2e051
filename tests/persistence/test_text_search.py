"""The console's text filter (title, 索引号, 文号) on both backends: answered from the trigram index of migration
0002, it finds what a substring match finds and follows every write (a new publication, a revision, a delete)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, inspect

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence import text_search
from persistence.listing import PageFilter, publications_page
from persistence.store import StatusStore
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
