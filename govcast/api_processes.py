"""Extra API processes of `govcast run` (embedded mode): more than one core for submissions.

One CPython process serializes HTTP parsing, body validation, the store writes and the pipeline behind
one GIL (issue 17, docs/benchmarks.md). With `api_processes` N > 1, `govcast run` binds the listening
socket itself and starts N - 1 child processes serving the same app on that very socket: the kernel hands
each new connection to whichever process accepts it first, so a busy process takes fewer. The children
run no pipeline, scheduler or expiry check. They share the SQLite store (each has its own group-commit
writer; SQLite's write lock lets one transaction in at a time, the others wait on the busy timeout) and
the embedded log (each relays its own outbox rows right after its commit, as the main process does).

A child's /readyz tells the main process's pipeline state (govcast/pipeline_report.py), not only its own.

The pipeline's consumers, in the main process, are woken in-process after each append to the log. An
append by a child sends the topic's name over a datagram socket pair to the main process, which wakes
the consumers the same way; the consumers' short poll stays the fallback when a nudge is lost.

A 202 from a child means what it means from the main process: its commit is durable; outbox rows a
killed child committed but did not relay are relayed by the main process's background relay. A child
dies with its parent (PR_SET_PDEATHSIG), so a killed `govcast run` leaves no process holding the port,
and the main process starts a child again when one dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess

import uvicorn

from govcast.gc_tuning import tune_for_service
from govcast.pipeline_report import ReportReader, report_path
from settings import Settings

log = logging.getLogger("govcast.api_processes")

CHECK_SECONDS = 1.0  # how often the main process looks for a child that died
_PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies
_NUDGE_BYTES = 256  # a topic name per datagram


def refusal(settings: Settings) -> str | None:
    """Why `settings` cannot run several API processes, or None when they can."""
    if settings.api_processes <= 1:
        return None
    if settings.broker:
        return ("--api-processes is for embedded mode; with --broker, start more `govcast api` processes "
                "behind a load balancer")
    if settings.sandboxes:
        return ("--api-processes > 1 does not work in sandbox mode: the sandbox platforms and the pipeline clock "
                "live in one process's memory, and another process would answer some of their requests")
    return None


def server_config(app: object, settings: Settings) -> uvicorn.Config:
    """The uvicorn settings every API process of `govcast run` uses."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",  # type: ignore[arg-type]
                          access_log=False)


class ApiProcesses:
    """The N - 1 child API processes of `govcast run` and the nudges they send to the pipeline's consumers."""

    def __init__(self, settings: Settings, listener: socket.socket, wake: Callable[[str], None]) -> None:
        self.settings = settings
        self.listener = listener
        self.wake = wake  # called with a topic name a child appended to
        self._context = multiprocessing.get_context("spawn")  # never fork a process with threads and SQLite handles
        self._receive_end, self._send_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._children: list[BaseProcess] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> ApiProcesses:
        self._children = [self._spawn(n) for n in range(1, self.settings.api_processes)]
        for target, name in ((self._receive_nudges, "api-nudges"), (self._watch, "api-processes")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child.pid is not None]

    def stop(self) -> None:
        self._stopping.set()
        for child in self._children:
            if child.is_alive():
                child.terminate()  # SIGTERM: uvicorn answers what is in flight, then exits
        for child in self._children:
            child.join(timeout=15)
            if child.is_alive():
                child.kill()
                child.join()
        with contextlib.suppress(OSError):
            self._receive_end.shutdown(socket.SHUT_RDWR)  # ends the receiving thread's recv
        for thread in self._threads:
            thread.join(timeout=5)
        self._receive_end.close()
        self._send_end.close()

    def _spawn(self, number: int) -> BaseProcess:
        child = self._context.Process(target=serve_child, name=f"govcast-api-{number}", daemon=False,
                                      args=(self.settings, self.listener, self._send_end, os.getpid()))
        with _sigint_ignored():
            child.start()
        log.info("API process %d started (pid %s)", number, child.pid)
        return child

    def _watch(self) -> None:
        """Start a child again when it died (killed, crashed); one that exited cleanly was told to stop."""
        while not self._stopping.wait(CHECK_SECONDS):
            for n, child in enumerate(self._children):
                if child.exitcode not in (None, 0) and not self._stopping.is_set():
                    log.warning("API process %d (pid %s) died with exit code %s; starting it again",
                                n + 1, child.pid, child.exitcode)
                    self._children[n] = self._spawn(n + 1)

    def _receive_nudges(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self._receive_end.recv(_NUDGE_BYTES)
            except OSError:
                return
            if not data:  # shut down
                return
            try:
                self.wake(data.decode())
            except Exception:  # a wake-up is an optimization: the consumers poll anyway
                log.exception("waking the pipeline for topic %r failed", data)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Children born ignoring SIGINT (an ignored signal stays ignored across exec, and Python then installs no
    KeyboardInterrupt handler): a terminal's Ctrl-C reaches the whole process group, and a child still importing
    would die with a traceback. The parent handles Ctrl-C and stops its children itself (SIGTERM, in stop()).

    Only the main thread may change a handler: a child started again by the watcher thread keeps the default
    (a Ctrl-C in the second it imports prints its traceback; nothing is lost). In the main thread a Ctrl-C in
    the milliseconds of a start is ignored: press it again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when the process that started it dies (even by kill -9): nobody keeps the port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def serve_child(settings: Settings, listener: socket.socket, nudge: socket.socket, parent: int) -> None:
    """A child API process: the app without the pipeline, on the inherited listening socket."""
    _die_with_parent(parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from govcast.app import build_app
    from govcast.runtime import Runtime
    from processors.embedded.log import SqliteLog

    runtime = Runtime.build(settings, with_adapters=False)
    assert isinstance(runtime.bus, SqliteLog)
    nudge.setblocking(False)

    def send_nudge(topic: str, _partitions: frozenset[int] | None) -> None:
        with contextlib.suppress(OSError):  # buffer full or parent gone: the consumers' poll picks it up
            nudge.send(topic.encode())  # the main process wakes every partition's consumer of the topic

    runtime.bus.add_listener(send_nudge)
    app = build_app(runtime, run_pipeline=False)
    app.state.pipeline = ReportReader(report_path(settings.data_dir), parent)  # /readyz: the main process's pipeline
    server = uvicorn.Server(server_config(app, settings))
    tune_for_service()  # as the main process does before it serves
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn re-raises a SIGINT it caught while serving (a child started again by _watch)
        pass
    finally:
        runtime.close()
