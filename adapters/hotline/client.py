"""Signed HTTP calls to the knowledge base (requests + tenacity for network errors; every call is safe to resend)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from adapters.common.signing import RequestSigning
from adapters.hotline.config import HotlineConfig

SIGNING = RequestSigning("X-Hotline")
TRANSIENT = (requests.ConnectionError, requests.Timeout)


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


class KnowledgeBaseClient:
    def __init__(self, config: HotlineConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "govcast-hotline/1"
        self._wall = wall

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        """One operation; network errors are retried in-call (PUT and withdraw are idempotent), each try signed afresh."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""

        @retry(stop=stop_after_attempt(self.config.network_attempts), wait=wait_random_exponential(multiplier=0.2, max=2),
               retry=retry_if_exception_type(TRANSIENT), reraise=True)
        def once() -> requests.Response:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            prepared = self.session.prepare_request(
                requests.Request(method, self.config.base_url + path, data=data or None, headers=headers))
            sent = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
            prepared.headers.update(SIGNING.headers(self.config.app_id, self.config.secret.get_secret_value(), method,
                                                    prepared.path_url, sent, self._wall()))
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
