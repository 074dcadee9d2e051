"""Sandbox of the 12345 hotline knowledge base: the contract of deploy/hotline/openapi.yaml, in memory
(kept in <data dir>/sandboxes/hotline.json across restarts), mounted at /sandbox/hotline/.

Every API call is checked like the real service would: signature (app id, clock window, HMAC, nonce
replay), availability (faults: maintenance, rate limit), the body against the contract, then the entry
rules (versions only move forward; a retracted entry is closed). `GET /_inspect` shows every entry with
its history, the requests and the refusals; `/_faults`, `/_clock`, `/_reset` are the sandbox controls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from adapters.common.install import Installation
from adapters.common.sandbox_kit import Faults, SandboxClock, SandboxLabel, StateFile, add_controls
from adapters.common.signing import SignatureGate
from adapters.hotline.client import SIGNING
from adapters.hotline.config import SANDBOX_SECRET, hotline_env

SOURCE_ID = r"^[A-Za-z0-9_-]{1,64}$"


class EntryIn(BaseModel):
    """An entry as filed (contract schema EntryIn)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: StrictInt = Field(ge=1)
    index_no: Annotated[str, Field(min_length=1, max_length=60)]
    kind: Literal["policy", "interpretation"]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    question: Annotated[str, Field(min_length=1, max_length=100)]
    audience: Annotated[str, Field(min_length=1, max_length=200)]
    points: Annotated[list[Annotated[str, Field(min_length=1, max_length=80)]], Field(min_length=1, max_length=6)]
    service_channels: Annotated[list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1, max_length=5)]
    phone: Annotated[str, Field(min_length=1, max_length=40)]
    publisher: Annotated[str, Field(min_length=1, max_length=100)]
    doc_no: Annotated[str, Field(max_length=60)] | None = None
    valid_from: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    valid_until: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    source_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s/]+\S*$")]
    source_id: Annotated[str, Field(pattern=SOURCE_ID)]
    interprets: Annotated[list[Annotated[str, Field(pattern=SOURCE_ID)]], Field(max_length=50)] = []


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: StrictInt = Field(ge=1)
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    final: StrictBool = False


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.extra.pop("retry_after"))} if "retry_after" in self.extra else None
        return JSONResponse({"code": self.code, "message": self.message, **self.extra}, self.status, headers=headers)


class KnowledgeBase:
    """The entries and the rules; one lock around every change (the API answers from a thread pool)."""

    def __init__(self, app_id: str, secret: str, state: StateFile | None = None) -> None:
        self.gate = SignatureGate(SIGNING, app_id, secret)
        self.clock = SandboxClock()
        self.faults = Faults({"maintenance", "rate_limit", "reject", "timeout"}, set())
        self.faults.values.update(retry_after=5.0, delay_seconds=2.0)
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1
        self.state = state
        if state is not None and (saved := state.load()):
            self.entries = saved.get("entries", {})
            self.next_id = int(saved.get("next_id", 1))

    # -- the rules of the contract ---------------------------------------------------------------------

    def put(self, source_id: str, entry: EntryIn) -> tuple[int, dict[str, Any]]:
        if entry.source_id != source_id:
            raise Refusal(422, "INVALID_REQUEST", "source_id in the body differs from the path")
        held = self.entries.get(source_id)
        if held is not None and held["status"] == "retracted":
            raise Refusal(409, "ENTRY_CLOSED", "the entry was retracted; it cannot be filed again", version=held["version"])
        if held is not None and (entry.version < held["version"]
                                 or (entry.version == held["version"] and held["status"] != "active")):
            raise Refusal(409, "STALE_VERSION", f"version {held['version']} is held", version=held["version"])
        if self.faults.take("reject"):
            raise Refusal(422, "CONTENT_REJECTED", "the knowledge-base editors refused this entry (sandbox fault)")
        fields = entry.model_dump(mode="json")
        if held is not None and held["status"] == "active" and {k: held.get(k) for k in fields} == fields:
            return 200, self._public(held)  # the same filing again (a resend): nothing changes
        now = self.clock.now()
        if held is None:
            held = {"entry_id": self._new_id(), "revision": 0, "history": [], "created_at": self._stamp(now)}
            status = 201
        else:
            status = 200
        held.update(fields, status="active", revision=held["revision"] + 1, updated_at=self._stamp(now), reason=None)
        held["history"].append({"revision": held["revision"], "version": entry.version, "status": "active",
                                "at": self._stamp(now)})
        self.entries[source_id] = held
        return status, self._public(held)

    def withdraw(self, source_id: str, body: WithdrawIn) -> dict[str, Any]:
        held, now = self.entries.get(source_id), self.clock.now()
        if held is None:
            if not body.final:
                raise Refusal(404, "ENTRY_NOT_FOUND", f"no entry for {source_id}")
            # a retraction before the entry was filed: a closed tombstone, so a late filing is refused
            held = {"entry_id": self._new_id(), "source_id": source_id, "version": body.version,
                    "revision": 0, "history": [], "created_at": self._stamp(now)}
            self.entries[source_id] = held
        elif held["status"] == "retracted":
            if not body.final:
                raise Refusal(409, "ENTRY_CLOSED", "the entry was retracted", version=held["version"])
            return self._public(held)
        elif not body.final and body.version < held["version"]:
            raise Refusal(409, "STALE_VERSION", f"version {held['version']} is held", version=held["version"])
        status = "retracted" if body.final else "withdrawn"
        held.update(status=status, version=max(held["version"], body.version), revision=held["revision"] + 1,
                    reason=body.reason, updated_at=self._stamp(now))
        held["history"].append({"revision": held["revision"], "version": body.version, "status": status,
                                "reason": body.reason, "at": self._stamp(now)})
        return self._public(held)

    def get(self, source_id: str) -> dict[str, Any]:
        held = self.entries.get(source_id)
        if held is None:
            raise Refusal(404, "ENTRY_NOT_FOUND", f"no entry for {source_id}")
        return {k: v for k, v in held.items() if k != "history"}

    def availability(self) -> None:
        if self.faults.take("maintenance"):
            raise Refusal(503, "MAINTENANCE", "the knowledge base is in a maintenance window", retry_after=60)
        if self.faults.take("rate_limit"):
            raise Refusal(429, "RATE_LIMITED", "too many requests", retry_after=int(self.faults.values["retry_after"]))

    def _new_id(self) -> str:
        self.next_id += 1
        return f"kb{self.next_id - 1:06d}"

    @staticmethod
    def _public(held: dict[str, Any]) -> dict[str, Any]:
        return {k: held.get(k) for k in ("entry_id", "source_id", "version", "revision", "status")}

    def _stamp(self, at: float) -> str:
        return dt.datetime.fromtimestamp(at, dt.UTC).isoformat()

    # -- sandbox controls (sandbox_kit.Controlled) ---------------------------------------------------------

    def inspect(self) -> dict[str, Any]:
        with self.lock:
            return {"entries": list(self.entries.values()), "requests": self.requests[-200:]}

    def reset(self) -> None:
        with self.lock:
            self.entries.clear()
            self.requests.clear()
            self.gate.clear()
            self.clock = SandboxClock()

    def save(self) -> None:
        if self.state is not None:
            self.state.request()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"entries": self.entries, "next_id": self.next_id}


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise Refusal(422, "INVALID_REQUEST", problems[:500]) from None


def create_sandbox(kb: KnowledgeBase) -> FastAPI:
    app = FastAPI(title="12345 hotline knowledge base (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)

    async def signed(request: Request, operation: str, source_id: str) -> JSONResponse:
        body = await request.body()
        raw = request.scope.get("raw_path")  # the request-target as sent, mount prefix included
        target = (raw.decode("latin-1") if raw else request.scope["path"]) + (
            f"?{request.scope['query_string'].decode()}" if request.scope.get("query_string") else "")
        seen: dict[str, Any] = {"at": dt.datetime.now(dt.UTC).isoformat(), "operation": operation, "source_id": source_id}
        if kb.faults.take("timeout"):  # the answer comes too late for the caller; the work is done regardless
            await asyncio.sleep(kb.faults.values["delay_seconds"])
        with kb.lock:
            try:
                refusal = kb.gate.refusal(request.method, target, request.headers, body, kb.clock.now())
                if refusal is not None:
                    raise Refusal(401, *refusal)
                kb.availability()
                if not re.match(SOURCE_ID, source_id):
                    raise Refusal(422, "INVALID_REQUEST", "source_id must be 1-64 characters [A-Za-z0-9_-]")
                status = 200
                if operation == "put":
                    status, answer = kb.put(source_id, _parse(EntryIn, body))
                elif operation == "withdraw":
                    answer = kb.withdraw(source_id, _parse(WithdrawIn, body))
                else:
                    answer = kb.get(source_id)
            except Refusal as refused:
                kb.requests.append({**seen, "status": refused.status, "code": refused.code})
                return refused.response()
            kb.requests.append({**seen, "status": status})
        kb.save()
        return JSONResponse(answer, status)

    @app.put("/v1/entries/{source_id}")
    async def put_entry(source_id: str, request: Request) -> JSONResponse:
        return await signed(request, "put", source_id)

    @app.get("/v1/entries/{source_id}")
    async def get_entry(source_id: str, request: Request) -> JSONResponse:
        return await signed(request, "get", source_id)

    @app.post("/v1/entries/{source_id}/withdraw")
    async def withdraw_entry(source_id: str, request: Request) -> JSONResponse:
        return await signed(request, "withdraw", source_id)

    add_controls(app, "hotline", kb)
    return app


def hotline_sandbox(install: Installation) -> Any:
    """The sandbox accepts the app id and secret govcast is configured with (empty secret: the demo secret)."""
    env = hotline_env(install)
    state = StateFile(install.data_dir / "sandboxes" / "hotline.json", lambda: kb.snapshot())
    kb = KnowledgeBase(env.app_id, env.secret.get_secret_value() or SANDBOX_SECRET, state)
    return SandboxLabel(create_sandbox(kb), "hotline")
