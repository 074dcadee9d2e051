"""Signed JSON calls to a platform whose contract govcast defines (the disclosure platform, the 12345 hotline
knowledge base): requests + tenacity for network errors only, each try signed afresh with the platform's
`RequestSigning` headers. Every operation of those contracts is safe to resend, so a timeout is retried
like a refused connection; the network error is raised when every try failed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
from pydantic import SecretStr
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from adapters.common.signing import RequestSigning

TRANSIENT = (requests.ConnectionError, requests.Timeout)


class SignedPlatformConfig(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def secret(self) -> SecretStr: ...
    @property
    def timeout(self) -> float: ...
    @property
    def network_attempts(self) -> int: ...


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    retry_after: float | None = None

    @property
    def code(self) -> str:
        return str(self.body.get("code") or f"HTTP_{self.status}")

    @property
    def message(self) -> str:
        return str(self.body.get("message") or "")


class SignedJsonClient:
    def __init__(self, config: SignedPlatformConfig, signing: RequestSigning, user_agent: str, *,
                 wall: Callable[[], float] = time.time, session: requests.Session | None = None) -> None:
        self.config, self.signing = config, signing
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self._wall = wall

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> Answer:
        url = self.config.base_url + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""

        @retry(stop=stop_after_attempt(self.config.network_attempts), wait=wait_random_exponential(multiplier=0.2, max=2),
               retry=retry_if_exception_type(TRANSIENT), reraise=True)
        def once() -> requests.Response:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            prepared = self.session.prepare_request(requests.Request(method, url, data=data or None, headers=headers))
            # sign exactly what goes on the wire: the prepared request-target and body, a new nonce per try
            sent = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
            prepared.headers.update(self.signing.headers(
                self.config.app_id, self.config.secret.get_secret_value(), method, prepared.path_url, sent, self._wall()))
            return self.session.send(prepared, timeout=self.config.timeout)

        response = once()
        try:
            payload = response.json()
        except ValueError:
            payload = {"message": response.text[:300]}
        retry_after = response.headers.get("Retry-After")
        return Answer(response.status_code, payload if isinstance(payload, dict) else {"value": payload},
                      float(retry_after) if retry_after and retry_after.isdigit() else None)

    def close(self) -> None:
        self.session.close()
