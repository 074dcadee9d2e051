"""WeChat API client: JSON calls with the access token, the shared token cache, errcode → typed result.

Token: `POST /cgi-bin/stable_token` (normal mode returns the same token until it expires and
renews it in its last 5 minutes; force_refresh invalidates the previous token, ≤ 20/day,
≥ 30 s apart). The token is cached in the adapters' ledger (row `token:<appid>`), which every
worker shares, and in memory. On 40001 / 40014 / 42001 the client takes a newer token from the
ledger if another worker already refreshed, else asks stable_token (force_refresh only when
normal mode hands back the very token that was just rejected) and retries the call once.
The token lives in the status database like the other adapter facts; it is never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests

from adapters.transport import MaybeSent, NotSent, send, with_retries
from adapters.wechat.config import WechatConfig
from persistence.ledger import Ledger
from schemas.delivery import DeliveryResult, Rejected, Retryable

log = logging.getLogger("govcast.adapters.wechat")

CHANNEL = "wechat"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
RENEW_MARGIN = 300.0  # seconds: stable_token renews in the last 5 minutes
FORCE_GAP = 30.0  # seconds between force refreshes (the platform ignores closer ones)
CST = dt.timezone(dt.timedelta(hours=8))

# errcode -> (typed result class, our code, explanation for operators)
_RETRY_SOON: dict[int, tuple[float, str]] = {
    -1: (5.0, "system busy"),
    45011: (60.0, "per-minute API frequency limit"),
}
_CONFIGURATION: dict[int, str] = {
    40013: "invalid AppID", 40125: "invalid AppSecret", 40164: "caller IP not whitelisted",
    61004: "caller IP not whitelisted", 41001: "access token missing", 48001: "API not authorized for this account "
    "(publishing needs a verified account)", 48004: "API banned for this account", 40243: "AppSecret frozen",
}
_CONTENT: dict[int, str] = {
    40007: "invalid media_id", 40009: "invalid image size", 40005: "invalid file type", 44003: "empty content",
    45002: "content too large", 45003: "title too long", 45004: "digest too long", 45110: "author too long",
    45166: "invalid content", 47001: "malformed request", 53503: "the draft failed the publish check",
    53504: "must be handled on the MP website", 53505: "must be handled on the MP website",
}


class WechatError(Exception):
    def __init__(self, errcode: int, errmsg: str, api: str, answer: dict[str, Any] | None = None) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg, self.api = errcode, errmsg, api
        self.answer = answer or {}  # the whole answer: some errors carry data (45065: the msg_id already sent)


def seconds_to_next_quota_day(now: dt.datetime) -> float:
    """WeChat's daily quotas reset at 00:00 Beijing time; one minute of margin."""
    local = now.astimezone(CST)
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), CST)
    return (tomorrow - local).total_seconds() + 60.0


def classify(err: WechatError, now: dt.datetime) -> DeliveryResult:
    """The typed outcome of a platform error (issue 4's mapping)."""
    said = f"WeChat {err.api} errcode {err.errcode}: {err.errmsg}"
    if err.errcode in _RETRY_SOON:
        after, what = _RETRY_SOON[err.errcode]
        return Retryable(reason=f"{what} ({said})", retry_after=after)
    if err.errcode == 45009:
        return Retryable(reason=f"daily quota reached, deferred to the next quota day ({said})",
                         retry_after=seconds_to_next_quota_day(now))
    if err.errcode in TOKEN_ERRORS:
        return Retryable(reason=f"access token rejected again after a refresh ({said})", retry_after=60.0)
    if err.errcode in _CONFIGURATION:
        return Rejected(reason=f"configuration problem: {_CONFIGURATION[err.errcode]} ({said})", code="configuration")
    if err.errcode in _CONTENT:
        return Rejected(reason=f"{_CONTENT[err.errcode]} ({said})", code="content")
    return Rejected(reason=f"unexpected platform error ({said})", code=str(err.errcode))


class WechatApi:
    def __init__(self, config: WechatConfig, ledger: Ledger, clock: Callable[[], dt.datetime]) -> None:
        self.config = config
        self.ledger = ledger
        self.clock = clock
        self.session = requests.Session()
        self._lock = threading.Lock()
        self._token: dict[str, Any] = {}
        self._token_key = f"token:{config.appid}"[:64]

    def close(self) -> None:
        self.session.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, path: str, body: dict[str, Any] | None = None, *, files: dict[str, Any] | None = None,
             params: dict[str, str] | None = None, idempotent: bool = True) -> dict[str, Any]:
        """POST `path` with the access token; retried once with a fresh token on 40001/40014/42001."""
        token = self.token()
        for attempt in (1, 2):
            answer = self._post(path, body, files=files, params={"access_token": token, **(params or {})},
                                idempotent=idempotent)
            code = int(answer.get("errcode") or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                log.info("WeChat %s: token rejected (%s); refreshing and retrying once", path, code)
                token = self.refresh(rejected=token)
                continue
            if code:
                raise WechatError(code, str(answer.get("errmsg", "")), path, answer)
            return answer
        raise AssertionError("unreachable")

    def _post(self, path: str, body: dict[str, Any] | None, *, files: dict[str, Any] | None,
              params: dict[str, str], idempotent: bool) -> dict[str, Any]:
        url = f"{self.config.base_url}{path}"
        kwargs: dict[str, Any] = {"params": params}
        if files is not None:
            kwargs["files"] = files
        elif body is not None:  # raw UTF-8, not \u escapes: WeChat counts the escapes against the limits
            kwargs["data"] = json.dumps(body, ensure_ascii=False).encode()
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}

        def once() -> dict[str, Any]:
            response = send(self.session, "POST", url, timeout=self.config.timeout_seconds, **kwargs)
            try:
                data = response.json()
            except ValueError:
                raise MaybeSent(f"{path}: answer is not JSON (HTTP {response.status_code})") from None
            if not isinstance(data, dict):
                raise MaybeSent(f"{path}: answer is not a JSON object")
            return data

        return with_retries(once, idempotent=idempotent)

    # -- token -------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock().timestamp()

    def _usable(self, record: dict[str, Any]) -> bool:
        return bool(record.get("access_token")) and float(record.get("expires_at", 0)) - self._now() > RENEW_MARGIN

    def token(self) -> str:
        if self._usable(self._token):
            return str(self._token["access_token"])
        with self._lock:
            shared = self.ledger.get(CHANNEL, self._token_key)
            if self._usable(shared):
                self._token = shared
                return str(shared["access_token"])
            return self._fetch(force=False)

    def refresh(self, *, rejected: str) -> str:
        with self._lock:
            shared = self.ledger.get(CHANNEL, self._token_key)
            if shared.get("access_token") not in (None, rejected) and self._usable(shared):
                self._token = shared  # another worker refreshed already
                return str(shared["access_token"])
            fresh = self._fetch(force=False)
            if fresh == rejected and self._now() - float(shared.get("forced_at", 0)) >= FORCE_GAP:
                fresh = self._fetch(force=True)
            return fresh

    def _fetch(self, *, force: bool) -> str:
        body = {"grant_type": "client_credential", "appid": self.config.appid,
                "secret": self.config.secret.get_secret_value(), "force_refresh": force}
        answer = self._post("/cgi-bin/stable_token", body, files=None, params={}, idempotent=True)
        if answer.get("errcode"):
            raise WechatError(int(answer["errcode"]), str(answer.get("errmsg", "")), "/cgi-bin/stable_token")
        token = answer.get("access_token")
        if not token:
            raise NotSent("stable_token answered without an access_token")
        now = self._now()
        facts: dict[str, Any] = {"access_token": token, "expires_at": now + float(answer.get("expires_in", 7200)),
                                 "fetched_at": now}
        if force:
            facts["forced_at"] = now
        self._token = self.ledger.put(CHANNEL, self._token_key, **facts)
        log.info("WeChat access token %s (expires in %s s)", "force-refreshed" if force else "fetched",
                 answer.get("expires_in"))
        return str(token)
