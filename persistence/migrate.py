"""Schema migrations (Alembic): bring a store's database to the schema this code needs, or say how far behind it is.

The revisions are in persistence/migrations/versions. `govcast db upgrade` runs `upgrade`; every govcast process
also runs it when it opens the store, unless GOVCAST_DB_AUTO_UPGRADE=false -- then a database behind the code is
refused (`SchemaBehind`) and an operator upgrades it on purpose, e.g. after a backup. Processes starting together
take turns: on PostgreSQL under an advisory lock, on SQLite as its one writer. A database made by a release before
migrations holds the baseline's tables already; the baseline revision creates only what is missing, so such a
database is adopted in place with its rows.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from persistence.engine import advisory_lock, reading

log = logging.getLogger("govcast.store")
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK = "govcast/status-store/schema"
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose database is known to be at head
_ready_lock = threading.Lock()


class SchemaBehind(RuntimeError):
    """The database's schema is older than this code's and automatic upgrades are off."""


@dataclass(frozen=True)
class Revisions:
    current: str | None  # None: no migration has run (an empty database, or one from a release before migrations)
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head() -> str:
    """The revision this code needs."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "persistence/migrations/versions holds no revision"
    return revision


def revisions(engine: Engine) -> Revisions:
    with reading(engine) as conn:
        return Revisions(MigrationContext.configure(conn).get_current_revision(), head())


def upgrade(engine: Engine) -> Revisions:
    """Run every migration the database lacks, in one transaction; returns where it was (`current`) and is now."""
    config = _config()
    with engine.begin() as conn:
        advisory_lock(conn, _LOCK)  # PostgreSQL: processes starting together migrate one after the other
        before = MigrationContext.configure(conn).get_current_revision()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with _ready_lock:
        _ready.add(engine)
    if before != head():
        log.info("status store schema upgraded from revision %s to %s", before or "none", head())
    return Revisions(before, head())


def open_schema(engine: Engine, *, auto_upgrade: bool = True) -> None:
    """At start: upgrade the database, or (auto_upgrade off) make sure it is current."""
    if auto_upgrade:
        upgrade(engine)
        return
    state = revisions(engine)
    if not state.up_to_date:
        raise SchemaBehind(
            f"the store's schema is at revision {state.current or 'none (a release before migrations)'}, this govcast "
            f"needs {state.head}; run `govcast db upgrade` (automatic upgrades are off: GOVCAST_DB_AUTO_UPGRADE=false)")
    with _ready_lock:
        _ready.add(engine)


def ensure_schema(engine: Engine) -> None:
    """For stores built on an engine of their own (tests, tools): upgrade it once; a no-op on the status store's
    engine, which `open_schema` prepared."""
    with _ready_lock:
        if engine in _ready:
            return
    upgrade(engine)
