"""SQLite store writers of one process take turns on a mutex (persistence.writer_turn): a writer waits while
another writes and goes as soon as that one ends -- by commit, rollback, a failed statement or a dropped
connection -- and nothing leaves the turn held, which would stop every write of the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from persistence.engine import make_engine, reading
from persistence.writer_turn import WriterTurn

WAIT = 5.0  # generous: the machine running the tests may be loaded


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE rows (n INTEGER)"))
    yield made
    made.dispose()


def write_in_thread(engine: Engine) -> threading.Event:
    """Start a write transaction in another thread; the event is set once it committed."""
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO rows VALUES (2)"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done


def test_a_writer_waits_for_the_one_writing_and_goes_when_it_commits(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO rows VALUES (1)"))
        other = write_in_thread(engine)
        assert not other.wait(0.3)  # one writer at a time
        with reading(engine) as reader:  # readers never wait for a turn
            assert reader.execute(text("SELECT count(*) FROM rows")).scalar_one() == 0
    assert other.wait(WAIT)
    with reading(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM rows")).scalar_one() == 2


def fails_inside(conn: Connection) -> None:
    conn.execute(text("INSERT INTO missing VALUES (1)"))


def rolls_back(conn: Connection) -> None:
    raise RuntimeError("the unit of work failed")


def is_dropped(conn: Connection) -> None:
    conn.invalidate()  # the connection is gone (as after a driver error)
    raise RuntimeError("connection lost")


@pytest.mark.parametrize("end", [fails_inside, rolls_back, is_dropped])
def test_a_transaction_that_ends_badly_gives_the_turn_back(engine: Engine, end: Callable[[Connection], None]) -> None:
    with pytest.raises(Exception), engine.begin() as conn:  # noqa: B017 -- each ends its own way
        conn.execute(text("INSERT INTO rows VALUES (1)"))
        end(conn)
    assert write_in_thread(engine).wait(WAIT), "the next writer never got its turn"
    with reading(engine) as reader:
        assert reader.execute(text("SELECT n FROM rows")).scalars().all() == [2]


def test_the_thread_holding_the_turn_does_not_wait_for_itself() -> None:
    turn = WriterTurn()
    turn.take(1)
    started = time.monotonic()
    turn.take(2)  # a second connection of the same thread: SQLite's busy handler decides, no self-deadlock
    assert time.monotonic() - started < 1
    turn.give_back(2)  # not the holder: the turn stays with connection 1
    other = threading.Thread(target=turn.take, args=(3,), daemon=True)
    other.start()
    other.join(0.3)
    assert other.is_alive()  # another thread waits for connection 1
    turn.give_back(1)
    other.join(WAIT)
    assert not other.is_alive()
