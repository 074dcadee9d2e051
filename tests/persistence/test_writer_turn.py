"""SQLite store writers take turns (persistence.writer_turn): a writer waits while another writes -- in its process
or in another one -- and goes as soon as that one ends -- by commit, rollback, a failed statement, a dropped
connection or its process killed -- and nothing leaves the turn held, which would stop every write."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

from persistence import writer_turn
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


# A writer in another process: opens the store's engine on the same file, starts a write transaction, says so, and
# commits when told (a line on stdin) -- or is killed while it holds the turn.
HOLDER = """
import sys
from sqlalchemy import text
from persistence.engine import make_engine
engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("INSERT INTO rows VALUES (3)"))
    print("holding", flush=True)
    sys.stdin.readline()
print("committed", flush=True)
"""


@pytest.fixture
def holder(engine: Engine) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a write transaction (and so the writer turn) on the engine's file."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(engine.url)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    yield proc
    proc.kill()
    proc.wait()


def impatient(engine: Engine) -> None:
    """SQLite's busy handler gives up at once for this engine's connections: a writer that asked SQLite for its
    write lock while another process held it would fail ('database is locked') instead of sleeping."""
    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    engine.dispose()  # connections already pooled wait as before: new ones, then


def test_a_writer_waits_for_another_process_on_the_turn_not_in_sqlite(engine: Engine,
                                                                       holder: subprocess.Popen[str]) -> None:
    impatient(engine)
    failed: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO rows VALUES (2)"))
        except BaseException as exc:  # reported below
            failed.append(exc)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert not done.wait(0.3), failed  # it waits for the other process (a busy SQLite lock would have failed it)
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "committed"
    assert done.wait(WAIT) and not failed, failed
    with reading(engine) as reader:
        assert sorted(reader.execute(text("SELECT n FROM rows")).scalars()) == [2, 3]


def test_a_killed_holder_of_the_turn_does_not_stop_the_other_processes_writers(engine: Engine,
                                                                                holder: subprocess.Popen[str]) -> None:
    done = write_in_thread(engine)
    assert not done.wait(0.3)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert done.wait(WAIT), "the writer still waits for the turn of a process that died"
    with reading(engine) as reader:
        assert reader.execute(text("SELECT n FROM rows")).scalars().all() == [2]  # the killed one kept nothing


def test_every_writer_of_a_file_in_a_process_shares_one_turn(tmp_path: Path) -> None:
    """The store's engines and the embedded log of one file queue on one turn: none waits for itself on the lock file."""
    first, second = make_engine(f"sqlite:///{tmp_path / 'one.db'}"), make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        assert writer_turn.of(first) is writer_turn.of(second) is writer_turn.for_file(tmp_path / "one.db")
        assert writer_turn.for_file(tmp_path / "other.db") is not writer_turn.of(first)
    finally:
        first.dispose()
        second.dispose()
