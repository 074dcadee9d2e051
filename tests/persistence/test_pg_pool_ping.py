"""PostgreSQL pool: a connection back from use a moment ago is not pinged; one idle longer is, and a dead one is
replaced before use."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from persistence import engine as engine_module
from persistence.engine import make_engine
from tests.store_backends import pg_base_url

pytestmark = pytest.mark.postgres


def test_a_connection_used_a_moment_ago_is_not_pinged_and_an_idle_dead_one_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_base_url()
    engine, admin = make_engine(url), create_engine(url, isolation_level="AUTOCOMMIT")
    pings: list[str] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append("ping") or ping(conn))
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        for _ in range(3):  # checked out again right away: no round trip before the statement
            with engine.begin() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        assert pings == []

        monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.0)  # from now on every checkout counts as idle
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with engine.begin() as conn:  # the ping finds it gone: a new connection serves the statement
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert pings == ["ping"]
    finally:
        engine.dispose()
        admin.dispose()
