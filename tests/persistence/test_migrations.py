"""Schema migrations on both backends: a database made by the release before migrations upgrades in place and keeps
its rows; a new database gets exactly the tables the code defines; with automatic upgrades off, a database behind the
code is refused until `govcast db upgrade`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from govcast.cli import main
from persistence import audit
from persistence.engine import make_engine
from persistence.ledger import Ledger
from persistence.migrate import SchemaBehind, head, revisions
from persistence.schema import metadata
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from persistence.text_search import unmanaged
from settings import get_settings
from tests.store_backends import BACKENDS, backend_url

PREVIOUS_RELEASE = Path(__file__).with_name("previous_release")
PUBLICATION = "pub_00000000000000000001"
DEPARTMENT_TOKEN = hashlib.sha256(b"gct_fixture_department").hexdigest()  # the token hash the fixture stored
DEPT = "11370100004188591X"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as u:
        yield u


@pytest.fixture
def settings_from_env() -> Iterator[None]:
    """`govcast …` reads GOVCAST_* once per process (a cached factory): start and end each test afresh."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def load_previous_release(url: str) -> None:
    """The committed dump of a store made by the last release before migrations, loaded as that release left it."""
    engine = make_engine(url)
    dialect = engine.dialect.name
    script = (PREVIOUS_RELEASE / f"{dialect}.sql").read_text(encoding="utf-8")
    raw = engine.raw_connection()
    try:
        if dialect == "sqlite":
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
        else:
            with raw.cursor() as cur:
                cur.execute(script)  # several statements, no parameters: psycopg sends them as one simple query
            raw.commit()
    finally:
        raw.close()
        engine.dispose()


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names() if t != "alembic_version" and not unmanaged(t, "table")]
        return {name: conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one() for name in names}


def schema_differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would still change: empty when the database has exactly the models' schema."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": included})
        return list(compare_metadata(context, metadata))


def included(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter in persistence/migrations/env.py: the text search index is made by its migration."""
    return not unmanaged(name, type_)


def test_a_new_store_gets_exactly_the_tables_the_code_defines(url: str) -> None:
    store = StatusStore(url)
    try:
        assert revisions(store.engine).current == head()
        assert schema_differences(store.engine) == []  # a model changed without a migration fails here
    finally:
        store.close()


def test_a_store_of_the_previous_release_upgrades_in_place_and_keeps_its_rows(url: str) -> None:
    load_previous_release(url)
    engine = make_engine(url)
    before = row_counts(engine)
    engine.dispose()
    assert before["publications"] == 1 and before["push_subscribers"] == 1 and before["adapter_ledger"] == 1

    store = StatusStore(url)  # automatic upgrade: what `govcast run` does at start
    try:
        assert revisions(store.engine).current == head()
        assert row_counts(store.engine) == before
        assert schema_differences(store.engine) == []
        # The old rows read back through today's code.
        pub = store.publication(PUBLICATION)
        assert pub is not None and pub.index_no == f"{DEPT}/2025-00001"
        assert {c: d["status"] for c, d in store.deliveries_of(PUBLICATION).items()} == dict.fromkeys(
            ("portal", "wechat", "weibo"), "delivered")
        principal = store.principal_for(DEPARTMENT_TOKEN)
        assert principal is not None and principal.publisher_code == DEPT
        assert Ledger(store.engine).get("wechat", "dlv_fixture_0001") == {"media_id": "m_1"}
        assert SubscriberStore(store.engine).list(10, 0)[0] == 1
        assert audit.verify(store.engine).intact
        # … and new writes carry on from them: the 索引号 counter continues, the outbox sequence too.
        with store.transaction() as conn:
            assert store.next_index_sequence(conn, DEPT, 2025) == 2
    finally:
        store.close()
    StatusStore(url).close()  # opening it again changes nothing
    engine = make_engine(url)
    assert row_counts(engine) == before
    engine.dispose()


def test_with_automatic_upgrades_off_an_old_store_waits_for_govcast_db_upgrade(
        url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings_from_env: None) -> None:
    load_previous_release(url)
    with pytest.raises(SchemaBehind, match="govcast db upgrade"):
        StatusStore(url, auto_upgrade=False)

    monkeypatch.setenv("GOVCAST_DB_AUTO_UPGRADE", "false")
    monkeypatch.setenv("GOVCAST_STORE_URL", url)
    assert main(["token", "list"]) == 2
    assert "run `govcast db upgrade`" in capsys.readouterr().err
    assert main(["db", "status"]) == 1
    assert f"this release needs {head()}" in capsys.readouterr().out

    assert main(["db", "upgrade"]) == 0
    assert f"upgraded from revision none (empty, or made by a release before migrations) to {head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"already at revision {head()}" in capsys.readouterr().out
    assert main(["db", "status"]) == 0

    assert main(["token", "list"]) == 0  # the process starts now, and finds the old release's token
    assert "济南市人民政府办公厅（演示）" in capsys.readouterr().out
