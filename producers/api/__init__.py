"""The submit API: `create_app(settings, store, bus)` builds a FastAPI app; nothing is created at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from persistence.ratelimit import FailedGuesses, RateLimiter
from persistence.store import StatusStore
from processors.bus import Bus
from producers.api import audit, clicks, health, metrics, publications, review, steering, subscribers, tokens
from producers.api.headers import SecurityHeaders
from producers.api.metrics import ApiMetrics
from producers.api.middleware import MAX_REQUEST_BYTES, BodyLimit, ServerErrors
from producers.console import install_console
from producers.console.metrics import ConsoleCollector
from producers.console.steering import Steering
from producers.newmedia_review import NewMediaReview
from producers.problems import install_problem_handlers, use_problem_media_type
from producers.publishing import Publisher
from producers.subscribe import install as install_subscription_center
from settings import Settings

TAGS = [
    {"name": "publications", "description": "Submit, revise and retract publications; read where every copy stands."},
    {"name": "subscribers", "description": "The policy-push directory of businesses, and one-click unsubscribe."},
    {"name": "tokens", "description": "API tokens (operators): create, list, revoke; secrets are shown once."},
    {"name": "audit", "description": "The tamper-evident audit trail of human actions (operators)."},
    {"name": "operations", "description": "Health, readiness and Prometheus metrics."},
]

DESCRIPTION = """Publish once, reach every channel.

Authenticate with `Authorization: Bearer <token>` (department, operator or business token).
Errors are RFC 9457 `application/problem+json` documents whose `errors` name every failing field.
"""


def create_app(settings: Settings, store: StatusStore, bus: Bus, *, max_request_bytes: int = MAX_REQUEST_BYTES) -> FastAPI:
    publisher = Publisher(settings, store, bus)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        publisher.start()  # relays what a crashed predecessor committed but never put on the bus
        try:
            yield
        finally:
            publisher.close()
            for limiter in (_app.state.rate_limiter, _app.state.failed_guesses):
                if limiter is not None:
                    limiter.close()

    app = FastAPI(title="govcast", version="0.1.0", description=DESCRIPTION, openapi_tags=TAGS, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.bus = bus
    app.state.publisher = publisher
    app.state.metrics = ApiMetrics(store)
    app.state.rate_limiter = (RateLimiter.for_store(store.engine, settings.rate_limit_per_second, settings.rate_limit_burst)
                              if settings.rate_limit_per_second > 0 else None)
    app.state.failed_guesses = (  # invalid tokens per client address (the console login and sandbox controls too)
        FailedGuesses(RateLimiter.for_store(store.engine, settings.auth_failures_per_minute / 60, settings.auth_failures_burst))
        if settings.auth_failures_per_minute > 0 else None)
    app.state.metrics.registry.register(ConsoleCollector(store, settings))
    app.state.steering = Steering(settings, store, publisher.relay)
    app.state.review = NewMediaReview(settings, store, publisher.relay)
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)
    app.add_middleware(ServerErrors)  # also catches errors of BodyLimit
    app.add_middleware(SecurityHeaders)  # outermost: every answer, the 500s and the mounted portal included
    app.include_router(publications.router)
    app.include_router(subscribers.router)
    app.include_router(steering.router)
    app.include_router(review.router)
    app.include_router(tokens.router)
    app.include_router(audit.router)
    app.include_router(subscribers.unsubscribe_router)
    app.include_router(clicks.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_console(app)
    install_subscription_center(app, "push" in settings.channels)  # /subscribe: the businesses' own pages
    use_problem_media_type(app)
    return app


__all__ = ["create_app"]
