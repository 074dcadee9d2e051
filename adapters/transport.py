"""HTTP plumbing shared by the platform adapters (WeChat, Weibo): was a request sent, retries, redaction.

Short in-call retries (tenacity, jittered exponential) cover transient network errors only,
and only where repeating is harmless: a request that never left (connection refused,
connect timeout) may always be sent again; one that may have reached the platform (read
timeout, connection dropped, 5xx) is repeated only for idempotent calls. Everything else
is the caller's business (typed results, the retry ladder, reconciliation).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

T = TypeVar("T")

_SECRET_PARAM = re.compile(r"((?:access_token|secret|appsecret|client_secret)=)[^&\s'\"]+", re.I)


def redact(text: str) -> str:
    """Error texts of requests include the URL, and WeChat puts the access token in the query: mask it."""
    return _SECRET_PARAM.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """urllib3 logs request lines (with WeChat's access_token in the query) at DEBUG: mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactingFilter())


class TransportError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(redact(reason))
        self.reason = redact(reason)


class NotSent(TransportError):
    """The request never reached the platform: sending it again is safe."""


class MaybeSent(TransportError):
    """The request may have reached the platform (timeout after sending, dropped connection, 5xx)."""


def _never_connected(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: object) -> requests.Response:
    """One HTTP exchange; transport failures become NotSent / MaybeSent, 5xx answers MaybeSent."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    except requests.ConnectionError as exc:
        kind = NotSent if _never_connected(exc) else MaybeSent
        raise kind(f"{type(exc).__name__}: {exc}") from None
    except requests.Timeout as exc:
        raise MaybeSent(f"timeout after {timeout:g} s: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        raise NotSent(f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 500:
        raise MaybeSent(f"HTTP {response.status_code} from {redact(response.url)}")
    return response


def with_retries(call: Callable[[], T], *, idempotent: bool, attempts: int = 3, max_wait: float = 2.0) -> T:
    """Run `call` with short jittered retries on transient transport errors (see module doc)."""
    retry_on: type[Exception] | tuple[type[Exception], ...] = (NotSent, MaybeSent) if idempotent else NotSent
    retrying = Retrying(stop=stop_after_attempt(attempts), wait=wait_random_exponential(multiplier=0.1, max=max_wait),
                        retry=retry_if_exception_type(retry_on), reraise=True)
    return retrying(call)
