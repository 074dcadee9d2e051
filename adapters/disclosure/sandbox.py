"""Sandbox of the disclosure platform: implements deploy/disclosure/openapi.yaml.

Mounted by `govcast run` at /sandbox/disclosure. Every contract request is signed
(adapters/disclosure/signing.py): a bad signature, an unknown app, a timestamp outside
the replay window (against the real clock) or a nonce seen within it is refused with 401
and logged in `refused`. Units must be in the platform's unit table (the same registry
file govcast uses, GOVCAST_DISCLOSURE_UNITS_FILE) with the right name, else INVALID_UNIT.

Test and demo controls (not part of the contract, unsigned):
    GET  /_inspect   records, refused requests, request log, faults, sandbox clock
    POST /_faults    {"maintenance_seconds": N}  503 + Retry-After for N s of sandbox time
                     {"rate_limit": {"requests": N, "retry_after": S}}  the next N signed requests get 429
                     {"reject": {"requests": N, "code": "CONTENT_REJECTED"|"INVALID_UNIT"}}  next N writes refused
                     {"clear": true}  no faults
    POST /_clock     {"advance_seconds": S}  moves the sandbox clock (maintenance windows, record times)
    POST /_reset     forget everything (records, nonces, logs, faults, clock)
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.disclosure import signing
from adapters.disclosure.config import SANDBOX_SECRET, disclosure_env
from adapters.disclosure.units import UnitRegistry, load_units
from schemas.vocab import credit_code_checksum_ok

if TYPE_CHECKING:
    from adapters.common.install import Installation

CREDIT_CODE = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
SOURCE_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
CREDIT_CODE_RE, SOURCE_ID_RE = re.compile(CREDIT_CODE), re.compile(SOURCE_ID)


def _iso_date_text(value: Any) -> Any:
    """The contract's dates are strings (format: date); pydantic's lax mode would take 0 as 1970-01-01."""
    if not isinstance(value, (str, dt.date)):
        raise ValueError("a date is a string YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """Absent means "unchanged" (or "not given"); the contract makes no field nullable, records or attachments."""
        if isinstance(data, dict) and (nulls := sorted(k for k, v in data.items() if v is None)):
            raise ValueError(f"null is not allowed for {', '.join(nulls)}")
        return data


class UnitIn(_Model):
    credit_code: Annotated[str, Field(pattern=CREDIT_CODE)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    sector: Annotated[str, Field(min_length=1, max_length=30)]


class AttachmentIn(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    url: Annotated[AnyHttpUrl, Field(max_length=2000)]
    media_type: Annotated[str, Field(max_length=100)] | None = None
    size: Annotated[StrictInt, Field(ge=0)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class RecordPatch(_Model):
    disclosure_matter: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    content: Annotated[str, Field(min_length=1, max_length=200_000)] | None = None
    publish_date: IsoDate | None = None
    validity: Literal["有效", "已修改", "失效", "废止"] | None = None
    attachments: Annotated[list[AttachmentIn], Field(max_length=50)] | None = None
    source_url: Annotated[AnyHttpUrl, Field(max_length=2000)] | None = None
    publisher: Annotated[str, Field(max_length=100)] | None = None
    index_no: Annotated[str, Field(max_length=60)] | None = None


class RecordIn(RecordPatch):
    source_id: Annotated[str, Field(pattern=SOURCE_ID)]
    unit: UnitIn
    disclosure_matter: Annotated[str, Field(min_length=1, max_length=50)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    content: Annotated[str, Field(min_length=1, max_length=200_000)]
    publish_date: IsoDate
    validity: Literal["有效", "已修改", "失效", "废止"]
    source_url: Annotated[AnyHttpUrl, Field(max_length=2000)]


class RevokeIn(_Model):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.extra.pop("retry_after"))} if "retry_after" in self.extra else None
        return JSONResponse({"code": self.code, "message": self.message, **self.extra}, self.status, headers=headers)


@dataclass
class Platform:
    """Everything the sandbox platform holds; one lock serializes requests."""

    app_id: str
    secret: str
    units: UnitRegistry
    wall: Any = time.time  # real clock: replay window
    offset: float = 0.0  # sandbox clock = real clock + offset
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_source: dict[tuple[str, str], str] = field(default_factory=dict)
    nonces: dict[str, float] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    maintenance_until: float | None = None
    rate_limited: int = 0
    rate_retry_after: int = 30
    reject: int = 0
    reject_code: str = "CONTENT_REJECTED"
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def now(self) -> float:
        return self.wall() + self.offset

    def stamp(self) -> str:
        return dt.datetime.fromtimestamp(self.now(), dt.UTC).isoformat()

    def reset(self) -> None:
        self.offset, self.maintenance_until, self.rate_limited, self.reject = 0.0, None, 0, 0
        for store in (self.records, self.by_source, self.nonces):
            store.clear()
        self.refused.clear()
        self.requests.clear()

    # -- checks, in the order the platform applies them --------------------------------------------

    def authenticate(self, method: str, target: str, headers: Any, body: bytes) -> None:
        app_id, ts, nonce, sig = (headers.get(h, "") for h in
                                  (signing.APP_ID, signing.TIMESTAMP, signing.NONCE, signing.SIGNATURE))
        if app_id != self.app_id:
            raise Refusal(401, "UNKNOWN_APP", f"unknown app id {app_id!r}")
        if not ts.isdigit() or abs(self.wall() - int(ts)) > signing.REPLAY_WINDOW_SECONDS:
            raise Refusal(401, "TIMESTAMP_EXPIRED", f"timestamp {ts!r} is outside the {signing.REPLAY_WINDOW_SECONDS} s window")
        if not signing.NONCE_RE.match(nonce) or not signing.signature_ok(self.secret, method, target, ts, nonce, body, sig):
            raise Refusal(401, "SIGNATURE_INVALID", "the signature does not match the request")
        cutoff = self.wall() - signing.REPLAY_WINDOW_SECONDS
        for old in [n for n, seen in self.nonces.items() if seen < cutoff]:
            del self.nonces[old]
        if nonce in self.nonces:
            raise Refusal(401, "NONCE_REPLAYED", f"nonce {nonce} was already used")
        self.nonces[nonce] = self.wall()

    def availability(self) -> None:
        if self.maintenance_until is not None and self.now() < self.maintenance_until:
            raise Refusal(503, "MAINTENANCE", "the platform is in a maintenance window",
                          retry_after=math.ceil(self.maintenance_until - self.now()))
        if self.rate_limited > 0:
            self.rate_limited -= 1
            raise Refusal(429, "RATE_LIMITED", "too many requests", retry_after=self.rate_retry_after)

    def review(self) -> None:
        if self.reject > 0:
            self.reject -= 1
            raise Refusal(422, self.reject_code, "refused by the platform's review (injected fault)")

    def check_unit(self, unit: UnitIn) -> None:
        known = self.units.get(unit.credit_code)
        if not credit_code_checksum_ok(unit.credit_code) or known is None:
            raise Refusal(422, "INVALID_UNIT", f"unit {unit.credit_code} is not registered on the platform")
        if known.name != unit.name or known.sector != unit.sector:
            raise Refusal(422, "INVALID_UNIT", f"unit {unit.credit_code} is registered as {known.name} ({known.sector})")

    # -- operations --------------------------------------------------------------------------------

    def create(self, data: RecordIn, root: str) -> tuple[int, dict[str, Any]]:
        self.check_unit(data.unit)
        key = (data.source_id, data.unit.credit_code)
        if key in self.by_source:
            existing = self.by_source[key]
            raise Refusal(409, "DUPLICATE_RECORD", f"a record for {data.source_id} and this unit exists", record_id=existing)
        self.review()
        record_id = f"REC-{int(self.now()):X}{next(self.ids):05d}"
        now = self.stamp()
        record = {"record_id": record_id, "status": "published", **data.model_dump(mode="json", exclude_none=True),
                  "url": f"{root}/records/{record_id}", "created_at": now, "updated_at": now,
                  "revoked_at": None, "revoke_reason": None, "history": []}
        self.records[record_id] = record
        self.by_source[key] = record_id
        return 201, record

    def record(self, record_id: str) -> dict[str, Any]:
        if record_id not in self.records:
            raise Refusal(404, "RECORD_NOT_FOUND", f"no record {record_id}")
        return self.records[record_id]

    def update(self, record_id: str, patch: RecordPatch) -> dict[str, Any]:
        record = self.record(record_id)
        if record["status"] == "revoked":
            raise Refusal(409, "RECORD_REVOKED", f"record {record_id} was revoked")
        changes = patch.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        if not changes:
            raise Refusal(422, "INVALID_REQUEST", "nothing to change")
        self.review()
        record["history"].append({"at": self.stamp(), "changes": sorted(changes)})
        record.update(changes, updated_at=self.stamp())
        return record

    def revoke(self, record_id: str, reason: str) -> dict[str, Any]:
        record = self.record(record_id)
        if record["status"] != "revoked":
            record.update(status="revoked", revoked_at=self.stamp(), revoke_reason=reason, updated_at=self.stamp())
        return record


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "history"}


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise Refusal(422, "INVALID_REQUEST", problems) from exc


def create_sandbox(platform: Platform) -> Starlette:
    def root_of(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"

    async def signed(request: Request) -> Response:
        body = await request.body()
        # the request-target as sent: raw (percent-encoded) full path, including any mount prefix
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if raw else request.scope["path"]
        target = path + (f"?{request.scope['query_string'].decode()}" if request.scope.get("query_string") else "")
        method = request.method
        entry = {"at": time.time(), "method": method, "path": target, "nonce": request.headers.get(signing.NONCE)}
        with platform.lock:
            try:
                try:
                    platform.authenticate(method, target, request.headers, body)
                except Refusal as refusal:
                    platform.refused.append({**entry, "code": refusal.code})
                    raise
                platform.availability()
                status, answer = 200, None
                route = request.scope["route_name"]
                if route == "records" and method == "POST":
                    status, answer = platform.create(_parse(RecordIn, body), root_of(request))
                elif route == "records":
                    source, code = request.query_params.get("source_id"), request.query_params.get("credit_code")
                    if not source or not SOURCE_ID_RE.match(source) or (code is not None and not CREDIT_CODE_RE.match(code)):
                        raise Refusal(422, "INVALID_REQUEST", "source_id is required; source_id and credit_code must match the contract")
                    found = [_public(r) for r in platform.records.values()
                             if r["source_id"] == source and code in (None, r["unit"]["credit_code"])]
                    answer = {"records": found}
                elif route == "record" and method == "GET":
                    answer = platform.record(request.path_params["record_id"])
                elif route == "record":
                    answer = platform.update(request.path_params["record_id"], _parse(RecordPatch, body))
                else:
                    reason = _parse(RevokeIn, body).reason
                    answer = platform.revoke(request.path_params["record_id"], reason)
            except Refusal as refusal:
                platform.requests.append({**entry, "status": refusal.status, "code": refusal.code})
                return refusal.response()
            platform.requests.append({**entry, "status": status})
            return JSONResponse(_public(answer), status)

    def route(path: str, name: str, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            request.scope["route_name"] = name
            return await signed(request)
        return Route(path, endpoint, methods=methods, name=f"disclosure-{name}")

    async def inspect(request: Request) -> Response:
        with platform.lock:
            return JSONResponse({
                "app_id": platform.app_id,
                "clock": platform.stamp(),
                "offset_seconds": platform.offset,
                "faults": {"maintenance_until": platform.maintenance_until and dt.datetime.fromtimestamp(
                    platform.maintenance_until, dt.UTC).isoformat(), "rate_limited": platform.rate_limited,
                    "reject": platform.reject, "reject_code": platform.reject_code},
                "records": list(platform.records.values()),
                "refused": list(platform.refused),
                "requests": list(platform.requests[-500:]),
                "units": len(platform.units),
            })

    async def faults(request: Request) -> Response:
        spec = json.loads(await request.body() or b"{}")
        with platform.lock:
            if spec.get("clear"):
                platform.maintenance_until, platform.rate_limited, platform.reject = None, 0, 0
            if "maintenance_seconds" in spec:
                platform.maintenance_until = platform.now() + float(spec["maintenance_seconds"])
            if "rate_limit" in spec:
                platform.rate_limited = int(spec["rate_limit"].get("requests", 1))
                platform.rate_retry_after = int(spec["rate_limit"].get("retry_after", 30))
            if "reject" in spec:
                platform.reject = int(spec["reject"].get("requests", 1))
                platform.reject_code = spec["reject"].get("code", "CONTENT_REJECTED")
        return await inspect(request)

    async def clock(request: Request) -> Response:
        spec = json.loads(await request.body() or b"{}")
        with platform.lock:
            platform.offset += float(spec.get("advance_seconds", 0))
        return JSONResponse({"clock": platform.stamp(), "offset_seconds": platform.offset})

    async def reset(request: Request) -> Response:
        with platform.lock:
            platform.reset()
        return JSONResponse({"reset": True})

    async def page(request: Request) -> Response:
        with platform.lock:
            record = platform.records.get(request.path_params["record_id"])
        if record is None:
            return HTMLResponse("<h1>记录不存在</h1>", 404)
        esc = {k: html.escape(str(v)) for k, v in record.items() if isinstance(v, str | None)}
        unit = record["unit"]
        state = "已撤销" if record["status"] == "revoked" else "已发布"
        return HTMLResponse(
            f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>{esc['title']}（沙箱）</title>"
            f"<h1>{esc['title']}</h1><p>{html.escape(unit['name'])}（{html.escape(unit['credit_code'])}，{html.escape(unit['sector'])}）"
            f" · {esc['disclosure_matter']} · {esc['publish_date']} · 有效性：{esc['validity']} · {state}</p>"
            f"<p><a href='{esc['source_url']}'>政府网站原文</a></p></html>")

    async def not_routed(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = "RECORD_NOT_FOUND" if status == 404 else "INVALID_REQUEST"
        return JSONResponse({"code": code, "message": str(getattr(exc, "detail", exc))}, status)

    return Starlette(exception_handlers={404: not_routed, 405: not_routed}, routes=[
        route("/v1/records", "records", ["GET", "POST"]),
        route("/v1/records/{record_id}", "record", ["GET", "PATCH"]),
        route("/v1/records/{record_id}/revoke", "revoke", ["POST"]),
        Route("/records/{record_id}", page, methods=["GET"]),
        Route("/_inspect", inspect, methods=["GET"]),
        Route("/_faults", faults, methods=["POST"]),
        Route("/_clock", clock, methods=["POST"]),
        Route("/_reset", reset, methods=["POST"]),
    ])


def disclosure_sandbox(settings: Installation) -> Starlette:
    """The sandbox accepts the app id and secret govcast is configured with (empty secret: the demo secret)."""
    secret = disclosure_env(settings).secret.get_secret_value() or SANDBOX_SECRET
    return create_sandbox(Platform(app_id=disclosure_env(settings).app_id, secret=secret,
                                   units=load_units(disclosure_env(settings).units_file)))
