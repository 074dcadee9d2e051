"""SANDBOX of Aliyun SMS (dysmsapi 2017-05-25): a stand-in implementing the documented contract
(shared/channels.md), mounted at /sandbox/sms/. Not the real platform: nothing reaches a phone.

Contract: the RPC endpoint `/` (GET query, or POST form) with `Action=SendSms | QuerySendDetails`, signed
per RPC v1 (adapters/push/sms_client.py; `POST&%2F&…` for POST). Gateway errors answer HTTP 400/404
`{RequestId, HostId, Code, Message, Recommend}`: Missing<Name>, InvalidVersion, InvalidSignatureMethod,
InvalidAccessKeyId.NotFound (404), InvalidTimeStamp.Format, InvalidTimeStamp.Expired (more than 15 min
from real time), SignatureDoesNotMatch (the message shows the server's string to sign), SignatureNonceUsed,
Throttling.User, InvalidApi.NotFound (404). Business errors answer 200 `{Code, Message, RequestId}`.
SendSms checks numbers (≤ 1000), the approved signatures and templates, TemplateParam (JSON object of
strings, every variable given, ≤ 35 characters, no URL), the 50/day limit per number + signature +
template (isv.BUSINESS_LIMIT_CONTROL, sandbox-clock days in Beijing time); `OK` carries a BizId.
Receipts: shortly after acceptance (`receipt_delay_seconds`) the "carrier" answers and the sandbox POSTs
an SmsReport JSON array to `<public URL>/callbacks/sms/<callback token>`; an answer other than 200
`{"code":0}` is retried at 1, 5 and 10 minutes (sandbox clock) after the first try.

Controls (not part of the contract): GET /_inspect, GET|POST /_faults, GET|POST /_clock, POST /_reset,
GET|POST /_numbers `{"undeliverable": [...]}` (numbers whose receipts say failed, err_code MK:0001).
Faults: counters (the next N SendSms) business_limit, day_limit, month_limit, content_illegal, sign_illegal,
mobile_illegal, deny_ip, ram_denied, throttling (Throttling.User), server_error (HTTP 503),
timeout (recorded, then answered after delay_seconds), undeliverable (receipt fails);
switches out_of_service, drop_receipts (no POST; QuerySendDetails still tells); values delay_seconds,
receipt_delay_seconds, daily_limit. State is kept in <data dir>/sandboxes/sms.json across restarts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.common.sandbox_kit import Faults, SandboxClock, SandboxLabel, StateFile, add_controls, answer
from adapters.push import sms_client as aliyun

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from adapters.common.install import Installation
from adapters.push.settings import push_env

COMMON = ("AccessKeyId", "Action", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version",
          "Signature")
TIMESTAMP_WINDOW = 15 * 60
RETRY_AT = (60.0, 300.0, 600.0)  # receipt retries, seconds after the first try
PHONE_RE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
URL_RE = re.compile(r"https?://|www\.|\.(?:com|cn|net|org|gov)\b", re.I)
COUNTED = {  # counter fault -> (Code, Message) of the SendSms answer
    "business_limit": ("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:50"),
    "day_limit": ("isv.DAY_LIMIT_CONTROL", "触发日发送限额"),
    "month_limit": ("isv.MONTH_LIMIT_CONTROL", "触发月发送限额"),
    "content_illegal": ("isv.SMS_CONTENT_ILLEGAL", "短信内容包含禁止发送内容"),
    "sign_illegal": ("isv.SMS_SIGN_ILLEGAL", "签名禁止使用"),
    "mobile_illegal": ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    "deny_ip": ("isv.DENY_IP_RANGE", "源IP地址所在的地区被禁用"),
    "ram_denied": ("isp.RAM_PERMISSION_DENY", "RAM权限DENY"),
}
FAILED_CODE, FAILED_TEXT = "MK:0001", "用户接收失败（沙箱：不可达号码）"


def stamp(at: float | None) -> str:
    return dt.datetime.fromtimestamp(at, aliyun.CST).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def gateway(code: str, message: str, status: int = 400) -> JSONResponse:
    return answer({"RequestId": str(uuid.uuid4()).upper(), "HostId": "dysmsapi.aliyuncs.com", "Code": code,
                   "Message": message, "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}"}, status)


def business(code: str, message: str, **extra: Any) -> JSONResponse:
    return answer({"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper(), **extra})


class SmsSandbox:
    def __init__(self, settings: Installation) -> None:
        self.keys = {aliyun.SANDBOX_ACCESS_KEY_ID: aliyun.SANDBOX_ACCESS_KEY_SECRET}
        if push_env(settings).sms_access_key_id and push_env(settings).sms_access_key_secret.get_secret_value():
            self.keys[push_env(settings).sms_access_key_id] = push_env(settings).sms_access_key_secret.get_secret_value()
        self.signs = {aliyun.SANDBOX_SIGN_NAME, push_env(settings).sms_sign_name} - {""}
        text = push_env(settings).sms_template_text or aliyun.default_template_text(settings.base_url)
        self.templates = {aliyun.SANDBOX_TEMPLATE_CODE: aliyun.default_template_text(settings.base_url),
                          aliyun.SANDBOX_CODE_TEMPLATE_CODE: aliyun.CODE_TEMPLATE_TEXT}
        self.templates[aliyun.SANDBOX_LAPSE_TEMPLATE_CODE] = aliyun.default_lapse_template_text(settings.base_url)
        if push_env(settings).sms_lapse_template_code:
            self.templates[push_env(settings).sms_lapse_template_code] = (push_env(settings).sms_lapse_template_text
                                                                     or aliyun.default_lapse_template_text(settings.base_url))
        if push_env(settings).sms_code_template_code:
            self.templates[push_env(settings).sms_code_template_code] = aliyun.CODE_TEMPLATE_TEXT
        if push_env(settings).sms_template_code:
            self.templates[push_env(settings).sms_template_code] = text
        self.receipt_url = f"{settings.base_url}/callbacks/sms/{aliyun.sms_callback_token(settings).get_secret_value()}"
        self.default_delay = push_env(settings).sms_timeout_seconds + 1.5
        self.clock = SandboxClock()
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.worker: threading.Thread | None = None
        self.order = itertools.count()  # ties of due times
        self.session = requests.Session()
        self.state_file = StateFile(settings.data_dir / "sandboxes" / "sms.json", self._snapshot)
        self.reset()
        self._restore()

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clock.offset = 0.0
            self.faults = Faults({*COUNTED, "throttling", "server_error", "timeout", "undeliverable"},
                                 {"out_of_service", "drop_receipts"})
            self.faults.values.update(delay_seconds=self.default_delay, receipt_delay_seconds=0.3, daily_limit=50)
            self.messages: list[dict[str, Any]] = []
            self.by_biz: dict[str, list[dict[str, Any]]] = {}  # BizId -> its messages
            self.sent: dict[str, int] = {}  # "phone|sign|template|day" -> SendSms accepted (the 50/day limit)
            self.receipts: list[dict[str, Any]] = []
            self.undeliverable: set[str] = set()
            self.nonces: dict[str, float] = {}
            self.jobs: list[tuple[float, int, list[str], int, float]] = []  # (due, seq, biz ids, try, first try)
            self.seq = 0

    def save(self) -> None:
        self.state_file.request()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({"offset": self.clock.offset, "messages": self.messages,
                                          "receipts": self.receipts[-500:], "undeliverable": sorted(self.undeliverable),
                                          "seq": self.seq}))

    def _restore(self) -> None:
        saved = self.state_file.load()
        if not saved:
            return
        self.clock.offset = float(saved.get("offset") or 0)
        self.messages, self.receipts = list(saved.get("messages") or []), list(saved.get("receipts") or [])
        self.undeliverable, self.seq = set(saved.get("undeliverable") or []), int(saved.get("seq") or 0)
        for m in self.messages:
            self._index(m)
        waiting = [m["biz_id"] for m in self.messages if m["status"] == "waiting"]
        if waiting:  # the carrier still answers after a restart
            self._schedule(self.clock.now(), sorted(set(waiting)), 0, self.clock.now())

    def inspect(self) -> dict[str, Any]:
        with self.lock:
            return {"messages": [dict(m) for m in self.messages], "receipts": [dict(r) for r in self.receipts],
                    "receipt_url": self.receipt_url.rsplit("/", 1)[0] + "/***", "undeliverable": sorted(self.undeliverable),
                    "signs": sorted(self.signs), "templates": dict(self.templates)}

    # -- the RPC endpoint --------------------------------------------------------------------

    async def rpc(self, request: Request) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        refused = self._verify(params, request.method)
        if refused is not None:
            return refused
        if params["Action"] == "SendSms":
            return await self.send_sms(params)
        if params["Action"] == "QuerySendDetails":
            return self.query(params)
        return gateway("InvalidApi.NotFound", "Specified api is not found, please check your url and method.", 404)

    def _verify(self, params: dict[str, str], method: str) -> JSONResponse | None:
        for name in COMMON:
            if not params.get(name):
                return gateway(f"Missing{name}", f"{name} is mandatory for this action.")
        if params["Version"] != aliyun.VERSION:
            return gateway("InvalidVersion", "Specified parameter Version is not valid.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return gateway("InvalidSignatureMethod", "Specified signature method is not valid.")
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return gateway("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        try:
            at = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            return gateway("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs(time.time() - at) > TIMESTAMP_WINDOW:  # real time: moving the sandbox clock models days, not skew
            return gateway("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        if not hmac.compare_digest(aliyun.signature(secret, params, method), params["Signature"]):
            unsigned = {k: v for k, v in params.items() if k != "Signature"}
            return gateway("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                           f"server string to sign is:{aliyun.string_to_sign(unsigned, method)}")
        with self.lock:
            now = time.time()
            self.nonces = {n: t for n, t in self.nonces.items() if now - t < TIMESTAMP_WINDOW}
            if params["SignatureNonce"] in self.nonces:
                return gateway("SignatureNonceUsed", "Specified signature nonce was used already.")
            self.nonces[params["SignatureNonce"]] = now
        if self.faults.take("throttling"):
            return gateway("Throttling.User", "Request was denied due to user flow control.")
        if self.faults.take("server_error"):
            return gateway("ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503)
        return None

    async def send_sms(self, params: dict[str, str]) -> JSONResponse:
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return gateway(f"Missing{name}", f"{name} is mandatory for this action.")
        phones = [p.strip() for p in params["PhoneNumbers"].split(",") if p.strip()]
        if len(phones) > 1000:
            return business("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if not all(PHONE_RE.match(p) for p in phones) or self.faults.take("mobile_illegal"):
            return business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        sign, code = params["SignName"], params["TemplateCode"]
        if sign not in self.signs:
            return business("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法(不存在或被拉黑)")
        template = self.templates.get(code)
        if template is None:
            return business("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if any(not values.get(name) for name in aliyun.variables(template)):
            return business("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if any(len(v) > aliyun.PARAM_CHARS for v in values.values()):
            return business("isv.PARAM_LENGTH_LIMIT", f"参数超出长度限制（单个变量不超过{aliyun.PARAM_CHARS}个字符）")
        if any(URL_RE.search(v) for v in values.values()):
            return business("isv.PARAM_NOT_SUPPORT_URL", "不支持URL作为变量，请将域名固化到模板中")
        if self.faults.on("out_of_service"):
            return business("isv.OUT_OF_SERVICE", "业务停机")
        for fault, (error, message) in COUNTED.items():
            if self.faults.take(fault):
                return business(error, message)
        content = f"【{sign}】{aliyun.render(template, values)}"
        with self.lock:
            now = self.clock.now()
            day = dt.datetime.fromtimestamp(now, aliyun.CST).date()
            limit = int(self.faults.values["daily_limit"])
            for phone in phones:
                if self.sent.get(f"{phone}|{sign}|{code}|{day}", 0) >= limit:
                    return business("isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{limit}")
            self.seq += 1
            biz_id = f"{int(now * 1000) % 10**12:012d}{self.seq:06d}^0"
            fail = self.faults.take("undeliverable")
            for phone in phones:
                self._index({
                    "biz_id": biz_id, "phone": phone, "sign": sign, "template": code, "params": values,
                    "content": content, "chars": len(content), "segments": aliyun.segments(len(content)),
                    "out_id": params.get("OutId", ""), "status": "waiting", "fail": fail or phone in self.undeliverable,
                    "at": now, "send_time": stamp(now), "report_time": "", "err_code": "", "receipts_sent": 0},
                    new=True)
            self._schedule(now + self.faults.values["receipt_delay_seconds"], [biz_id], 0, 0.0)
            self.save()
        if self.faults.take("timeout"):
            await asyncio.sleep(self.faults.values["delay_seconds"])
        return business("OK", "OK", BizId=biz_id)

    def query(self, params: dict[str, str]) -> JSONResponse:
        for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
            if not params.get(name):
                return gateway(f"Missing{name}", f"{name} is mandatory for this action.")
        try:
            size, page = int(params["PageSize"]), int(params["CurrentPage"])
            day = dt.datetime.strptime(params["SendDate"], "%Y%m%d").date()
        except ValueError:
            return business("isv.INVALID_PARAMETERS", "参数异常")
        if not (1 <= size <= 50 and page >= 1):
            return business("isv.INVALID_PARAMETERS", "参数异常（PageSize 1-50，CurrentPage ≥ 1）")
        biz_id = params.get("BizId")
        with self.lock:
            rows = sorted((m for m in self.messages if m["phone"] == params["PhoneNumber"]
                           and dt.datetime.fromtimestamp(m["at"], aliyun.CST).date() == day
                           and (not biz_id or m["biz_id"] == biz_id)), key=lambda m: m["at"], reverse=True)
            dtos = [{"PhoneNum": m["phone"], "SendStatus": {"waiting": 1, "failed": 2, "delivered": 3}[m["status"]],
                     "ErrCode": m["err_code"], "TemplateCode": m["template"], "Content": m["content"],
                     "SendDate": m["send_time"], "ReceiveDate": m["report_time"], "OutId": m["out_id"]}
                    for m in rows[(page - 1) * size:page * size]]
        return business("OK", "OK", TotalCount=len(rows), SmsSendDetailDTOs={"SmsSendDetailDTO": dtos})

    def numbers(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "undeliverable" in body:
                self.undeliverable = {str(n) for n in body.get("undeliverable") or []}
            self.save()
            return {"undeliverable": sorted(self.undeliverable)}

    def _index(self, message: dict[str, Any], *, new: bool = False) -> None:
        if new:
            self.messages.append(message)
        self.by_biz.setdefault(message["biz_id"], []).append(message)
        day = dt.datetime.fromtimestamp(message["at"], aliyun.CST).date()
        key = f"{message['phone']}|{message['sign']}|{message['template']}|{day}"
        self.sent[key] = self.sent.get(key, 0) + 1

    # -- the carrier and the receipts (a background thread on the sandbox clock) -------------

    def _schedule(self, due: float, biz_ids: list[str], attempt: int, first: float) -> None:
        with self.lock:
            heapq.heappush(self.jobs, (due, next(self.order), biz_ids, attempt, first))
            if self.worker is None:
                self.worker = threading.Thread(target=self._run, name="sandbox-sms-receipts", daemon=True)
                self.worker.start()
            self.wake.notify()

    def _run(self) -> None:
        while True:
            with self.lock:
                self.wake.wait(timeout=0.05)
                now = self.clock.now()
                due = []
                while self.jobs and self.jobs[0][0] <= now:
                    due.append(heapq.heappop(self.jobs))
            for _, _, biz_ids, attempt, first in due:
                self._report(biz_ids, attempt, first)

    def _report(self, biz_ids: list[str], attempt: int, first: float) -> None:
        with self.lock:
            now = self.clock.now()
            rows = [m for biz_id in biz_ids for m in self.by_biz.get(biz_id, [])]
            for m in rows:
                if m["status"] == "waiting":  # the carrier's answer
                    m["status"] = "failed" if m["fail"] else "delivered"
                    m["err_code"] = FAILED_CODE if m["fail"] else "DELIVERED"
                    m["report_time"] = stamp(now)
            self.save()
            if self.faults.on("drop_receipts") or not rows:
                return
            report = [{"phone_number": m["phone"], "send_time": m["send_time"], "report_time": m["report_time"],
                       "success": m["status"] == "delivered", "err_code": m["err_code"],
                       "err_msg": "用户接收成功" if m["status"] == "delivered" else FAILED_TEXT,
                       "sms_size": str(m["segments"]), "biz_id": m["biz_id"], "out_id": m["out_id"]} for m in rows]
        try:
            response = self.session.post(self.receipt_url, json=report, timeout=5)
            status, said = response.status_code, response.text[:200]
            ok = status == 200 and response.json().get("code") == 0
        except (requests.RequestException, ValueError, AttributeError) as exc:
            status, said, ok = 0, type(exc).__name__, False
        with self.lock:
            first = first or self.clock.now()
            self.receipts.append({"at": stamp(self.clock.now()), "attempt": attempt + 1, "biz_ids": biz_ids,
                                  "out_ids": [r["out_id"] for r in report], "status": status, "answer": said, "ok": ok})
            for m in rows:
                m["receipts_sent"] += 1
            if not ok and attempt < len(RETRY_AT):
                self._schedule(first + RETRY_AT[attempt], biz_ids, attempt + 1, first)
            self.save()


def sms_sandbox(settings: Installation) -> ASGIApp:
    sandbox = SmsSandbox(settings)
    app = FastAPI(title="Aliyun SMS (dysmsapi 2017-05-25) — SANDBOX", docs_url="/_docs", openapi_url="/_openapi.json")
    app.state.sandbox = sandbox
    app.add_api_route("/", sandbox.rpc, methods=["GET", "POST"], summary="RPC endpoint: SendSms, QuerySendDetails")

    @app.get("/_numbers")
    def numbers_get() -> JSONResponse:
        return answer(sandbox.numbers({}))

    @app.post("/_numbers")
    async def numbers(request: Request) -> JSONResponse:
        body = await request.json()
        return answer(sandbox.numbers(body if isinstance(body, dict) else {}))

    add_controls(app, "sms", sandbox)
    return SandboxLabel(app, "sms")
