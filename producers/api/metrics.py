"""Prometheus metrics of the submit API, in a registry of their own per app (never the global one).

- `govcast_submissions_total{kind,outcome}`, `govcast_revisions_total{kind,outcome}`,
  `govcast_retractions_total{outcome}`: outcome is accepted | replayed | rejected | unavailable | error;
  kind is the publication kind (`unknown` when the body did not say a valid one).
- `govcast_publications{status}`: publications per overall status, read from the store at scrape time.
- `govcast_status_store_up`: 1 when that read worked.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from persistence.store import StatusStore
from producers.errors import Forbidden, PublishError, Unauthorized, Unavailable
from producers.problems import problem_docs
from producers.publishing import COLLECTION, Outcome
from schemas.publication import Kind

log = logging.getLogger("govcast.api")

T = TypeVar("T", bound=Outcome)
_KINDS = frozenset(k.value for k in Kind)
# Shown even at zero so dashboards and alerts see every series from the start.
_STATUSES = ("pending", "scheduled", "held", "delivering", "retrying", "delivered", "partially_delivered", "failed",
             "retracting", "retracted")
_ITEM = re.compile(rf"^{COLLECTION}/[^/]+$")
_RETRACT = re.compile(rf"^{COLLECTION}/[^/]+/retract$")


class PublicationsByStatus(Collector):
    def __init__(self, store: StatusStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("govcast_status_store_up", "1 when the status store answered the metrics query")
        try:
            counts = self.store.counts_by_status()
        except Exception:
            log.exception("metrics: the status store did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauge = GaugeMetricFamily("govcast_publications", "Publications by overall status", labels=["status"])
        for status in sorted(set(_STATUSES) | set(counts)):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge


class ApiMetrics:
    def __init__(self, store: StatusStore) -> None:
        self.registry = CollectorRegistry()
        self.submissions = Counter(
            "govcast_submissions", "Publication submissions (POST /v1/publications) by kind and outcome",
            ["kind", "outcome"], registry=self.registry,
        )
        self.revisions = Counter(
            "govcast_revisions", "Publication revisions (PUT /v1/publications/{id}) by kind and outcome",
            ["kind", "outcome"], registry=self.registry,
        )
        self.retractions = Counter(
            "govcast_retractions", "Retractions (POST /v1/publications/{id}/retract) by outcome",
            ["outcome"], registry=self.registry,
        )
        self.registry.register(PublicationsByStatus(store))

    def counted(self, counter: Counter, labels: tuple[str, ...], call: Callable[[], T]) -> T:
        """Run `call`, counting its outcome on `counter` with `labels` before the outcome label."""
        try:
            outcome = call()
        except Exception as exc:
            self._failed(counter, labels, exc)
            raise
        counter.labels(*labels, "replayed" if outcome.replayed else "accepted").inc()
        return outcome

    async def counted_async(self, counter: Counter, labels: tuple[str, ...], call: Callable[[], Awaitable[T]]) -> T:
        """`counted` for a coroutine."""
        try:
            outcome = await call()
        except Exception as exc:
            self._failed(counter, labels, exc)
            raise
        counter.labels(*labels, "replayed" if outcome.replayed else "accepted").inc()
        return outcome

    @staticmethod
    def _failed(counter: Counter, labels: tuple[str, ...], exc: Exception) -> None:
        outcome = "unavailable" if isinstance(exc, Unavailable) else "rejected" if isinstance(exc, PublishError) else "error"
        counter.labels(*labels, outcome).inc()

    def observe_invalid(self, method: str, path: str, body: Any) -> None:
        """Count a request the schema rejected before any endpoint ran."""
        raw = body.get("kind") if isinstance(body, dict) else None
        kind = raw if isinstance(raw, str) and raw in _KINDS else "unknown"
        if method == "POST" and path.rstrip("/") == COLLECTION:
            self.submissions.labels(kind, "rejected").inc()
        elif method == "PUT" and _ITEM.match(path):
            self.revisions.labels(kind, "rejected").inc()
        elif method == "POST" and _RETRACT.match(path):
            self.retractions.labels("rejected").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition format"},
               **problem_docs(401, 403)},
)
def metrics(api_metrics: MetricsDep, request: Request) -> Response:
    """Open unless restricted: settings `metrics_token` (bearer) and/or `metrics_allowed_networks` (client address)."""
    settings = request.app.state.settings
    allowed = [ipaddress.ip_network(n, strict=False) for n in settings.metrics_allowed_networks]
    if allowed:
        client = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in allowed):
            raise Forbidden("/metrics answers only the monitoring network (metrics_allowed_networks)")
    expected = settings.metrics_token.get_secret_value()
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise Unauthorized("/metrics needs `Authorization: Bearer <metrics token>` (setting metrics_token)")
    return Response(api_metrics.render(), media_type=CONTENT_TYPE_LATEST)
