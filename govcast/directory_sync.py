"""Kafka mode wiring of the push directory topic (processors.directory_topic): who writes it, who reads it.

(The SubscriberStore change hook of a process is processors.directory_hook.change_hook; a pipeline process's push
adapter gets the TopicDirectory in govcast.runtime.)
* `DirectorySeeder`: `govcast api --broker` (and `run --broker`) reseed the topic from the database at
  start, waiting a bounded time before serving; if the broker cannot be reached then, it goes on
  retrying in the background while the API serves.
* `publish(settings)`: `govcast subscribers publish`, the same reseed on demand.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING

from persistence.subscribers import SubscriberStore
from processors.directory_hook import change_hook
from settings import Settings

if TYPE_CHECKING:
    from govcast.runtime import Runtime

log = logging.getLogger("govcast.directory")

SEED_WAIT_SECONDS = 60.0  # how long `govcast api` waits for the reseed before it serves anyway


class DirectorySeeder:
    """Reseed the directory topic from the database in a thread, retrying until it has been done once."""

    def __init__(self, store: SubscriberStore, servers: list[str]) -> None:
        self.store, self.servers = store, servers
        self.done = threading.Event()
        self._tried = threading.Event()  # the first attempt is over (done, or the broker did not answer)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govcast-directory-seed", daemon=True)

    def start(self, wait: float = SEED_WAIT_SECONDS) -> DirectorySeeder:
        """Start, and wait for the first attempt (at most `wait` s): serving waits for a reachable broker only."""
        self._thread.start()
        self._tried.wait(wait)
        if not self.done.is_set():
            log.warning("the directory topic is not reseeded yet (broker unreachable?); serving anyway, "
                        "the reseed goes on in the background")
        return self

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        from processors.directory_topic import reseed

        delay = 1.0
        while not self._stopping.is_set():
            try:
                produced, removed = reseed(self.store, self.servers)
                log.info("directory topic in step with the database (%d records produced, %d removed)",
                         produced, removed)
                self.done.set()
                self._tried.set()
                return
            except Exception as exc:
                log.warning("reseeding the directory topic failed (%s: %s); again in %.0f s",
                            type(exc).__name__, exc, delay)
            self._tried.set()
            self._stopping.wait(delay)
            delay = min(delay * 2, 60.0)


def start_seeder(runtime: Runtime) -> DirectorySeeder | None:
    """`govcast api|run --broker`: make the topic equal to the database before (or while) serving."""
    hook = change_hook(runtime.settings, runtime.bus)
    if hook is None:
        return None
    from processors.kafka_bus import KafkaBus

    assert isinstance(runtime.bus, KafkaBus)
    return DirectorySeeder(SubscriberStore(runtime.store.engine, on_change=hook), runtime.bus.servers).start()


def publish(settings: Settings) -> int:
    """`govcast subscribers publish`: reseed the directory topic from the database now."""
    from govcast.runtime import Runtime
    from processors.directory_topic import TOPIC, reseed

    if not settings.broker:
        print("govcast subscribers publish: needs --broker kafka://HOST:PORT (or GOVCAST_BROKER); embedded mode "
              "has no directory topic", file=sys.stderr)
        return 2
    runtime = Runtime.build(settings, with_adapters=False)
    try:
        from processors.kafka_bus import KafkaBus

        assert isinstance(runtime.bus, KafkaBus)
        store = SubscriberStore(runtime.store.engine, on_change=change_hook(settings, runtime.bus))
        try:
            produced, removed = reseed(store, runtime.bus.servers)
        except Exception as exc:
            print(f"govcast subscribers publish: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"directory topic {TOPIC}: {produced:,} records produced, {removed:,} removed "
              f"(the rest was in step with the database)", file=sys.stderr)
        return 0
    finally:
        runtime.close()
