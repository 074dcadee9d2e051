"""The store's schema: every table in one MetaData, whichever module defines it.

The tables live next to the code that uses them (tables.py, subscribers.py, push_recipients.py, selfservice.py,
ledger.py) but all join `persistence.tables.metadata`; importing this module imports each of those modules, so
`metadata` here is complete. Alembic's autogenerate (persistence/migrations/env.py) and the test that the migrations
build exactly these tables read it.
"""

from __future__ import annotations

from persistence import ledger, push_recipients, selfservice, subscribers  # noqa: F401  (imported for the tables they add)
from persistence.tables import metadata

__all__ = ["metadata"]
