"""Small pieces the WeChat and Weibo sandboxes share: a movable clock, fault counters, the sandbox label."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class SandboxClock:
    """Real time plus an offset that tests and demos move forward (token expiry, quota days, rate windows)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)

    def day(self) -> str:
        """The platform's quota day (Beijing time)."""
        return dt.datetime.fromtimestamp(self.now(), CST).date().isoformat()

    def describe(self) -> dict[str, Any]:
        return {"now": dt.datetime.fromtimestamp(self.now(), dt.UTC).isoformat(), "offset_seconds": self.offset,
                "quota_day": self.day()}


class Faults:
    """Injected faults: counters ("the next N calls") and switches; thread-safe."""

    def __init__(self, counters: set[str], switches: set[str]) -> None:
        self.counters = dict.fromkeys(counters, 0)
        self.switches = dict.fromkeys(switches, False)
        self.values: dict[str, float] = {}
        self.lock = threading.Lock()

    def update(self, body: dict[str, Any]) -> list[str]:
        """Apply a POST /_faults body; returns unknown keys (refused)."""
        unknown = [k for k in body if k not in self.counters and k not in self.switches and k not in self.values]
        if unknown:
            return unknown
        with self.lock:
            for key, value in body.items():
                if key in self.counters:
                    self.counters[key] = int(value)
                elif key in self.switches:
                    self.switches[key] = bool(value)
                else:
                    self.values[key] = float(value)
        return []

    def take(self, name: str) -> bool:
        """True (and one fewer left) if a counted fault `name` is armed."""
        with self.lock:
            if self.counters.get(name, 0) > 0:
                self.counters[name] -= 1
                return True
            return False

    def on(self, name: str) -> bool:
        return self.switches.get(name, False)

    def describe(self) -> dict[str, Any]:
        with self.lock:
            return {**self.counters, **self.switches, **self.values}


def later(delay: float, action: Callable[..., Any], *args: Any) -> None:
    """Run `action(*args)` after `delay` seconds on a daemon timer: a platform's job finishing later (a publish, a
    mass send) must never keep the process from exiting when govcast or a test stops."""
    timer = threading.Timer(delay, action, args=args)
    timer.daemon = True
    timer.start()


class StateFile:
    """A sandbox's state survives restarts (a platform does not forget when govcast is killed): JSON in the data dir.

    `request()` marks the state changed; a background thread writes `snapshot()` at most every
    FLUSH_SECONDS, so the event loop serving the sandbox never waits for the file.
    """

    FLUSH_SECONDS = 0.2

    def __init__(self, path: Path, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.snapshot = snapshot
        self.dirty = threading.Event()
        self.thread: threading.Thread | None = None
        self.guard = threading.Lock()

    def request(self) -> None:
        self.dirty.set()
        with self.guard:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=f"sandbox-state-{self.path.stem}", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            self.dirty.wait()
            time.sleep(self.FLUSH_SECONDS)
            self.dirty.clear()
            try:
                self.save(self.snapshot())
            except (OSError, TypeError, ValueError):
                logging.getLogger("govcast.sandbox").exception("could not save %s", self.path)

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(temp, self.path)


class SandboxLabel:
    """Every answer of a sandbox carries `X-Govcast-Sandbox: <platform>` (pages also say so in their body)."""

    def __init__(self, app: ASGIApp, platform: str) -> None:
        self.app, self.platform = app, platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def labelled(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-govcast-sandbox", self.platform.encode()))
            await send(message)

        await self.app(scope, receive, labelled)


def answer(data: dict[str, Any], status: int = 200) -> JSONResponse:
    """A platform answer, labelled: `"sandbox": true` is an extra field real clients ignore."""
    return JSONResponse({**data, "sandbox": True}, status_code=status)


class Controlled(Protocol):
    clock: SandboxClock
    faults: Faults

    def inspect(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def save(self) -> None: ...


def add_controls(app: FastAPI, platform: str, sandbox: Controlled) -> None:
    """The test and demo endpoints every sandbox has: /_inspect, /_faults, /_clock, /_reset."""

    @app.get("/_inspect", summary=f"everything the {platform} sandbox holds")
    def _inspect() -> JSONResponse:
        return answer({"platform": platform, "clock": sandbox.clock.describe(), "faults": sandbox.faults.describe(),
                       **sandbox.inspect()})

    @app.get("/_faults")
    def _faults_get() -> JSONResponse:
        return answer({"faults": sandbox.faults.describe()})

    @app.post("/_faults")
    async def _faults(request: Request) -> JSONResponse:
        body = await request.json()
        unknown = sandbox.faults.update(body if isinstance(body, dict) else {})
        if unknown:
            return answer({"error": f"unknown fault(s): {', '.join(unknown)}", "known": sorted(sandbox.faults.describe())}, 400)
        return answer({"faults": sandbox.faults.describe()})

    @app.get("/_clock")
    def _clock_get() -> JSONResponse:
        return answer({"clock": sandbox.clock.describe()})

    @app.post("/_clock")
    async def _clock(request: Request) -> JSONResponse:
        body = await request.json()
        sandbox.clock.advance(float(body.get("advance_seconds", 0)))
        sandbox.save()
        return answer({"clock": sandbox.clock.describe()})

    @app.post("/_reset")
    def _reset() -> JSONResponse:
        sandbox.reset()
        sandbox.save()
        return answer({"reset": True})
