"""Errors of the producer side, free of any web framework.

`producers.publishing` and `producers.auth` raise these; the API turns them
into RFC 9457 problem documents (producers.problems), the CLI into messages.
Field paths name where the problem is, dotted with list indexes, prefixed by
where the value came from: `body.related.0.id`, `query.per_page`, `header.Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class PublishError(Exception):
    """A request govcast refuses, with everything a problem document needs."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        errors: Sequence[FieldError] = (),
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


class Unauthorized(PublishError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="govcast"'})


class Forbidden(PublishError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(PublishError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(PublishError):
    status, slug, title = 409, "conflict", "Conflict"


class Invalid(PublishError):
    status, slug, title = 422, "validation", "The request is not valid"


class Unavailable(PublishError):
    status, slug, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class TooManyRequests(PublishError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: str) -> None:
        super().__init__(detail, headers={"Retry-After": retry_after})
