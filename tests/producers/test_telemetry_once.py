"""FastAPI's per-request question "is OpenTelemetry configured?" is asked once, at startup."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.trace import NoOpTracerProvider

from producers.api import _telemetry_checked_once


def test_without_a_provider_the_check_is_not_asked_per_request(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    assert "enabled" in vars(app._native_telemetry)  # the answer given at startup, not the per-request check
    assert app._native_telemetry.enabled() is False
    assert client.get("/healthz").status_code == 200


def test_with_a_provider_configured_at_startup_telemetry_stays_on() -> None:
    app = FastAPI(telemetry={"tracer_provider": NoOpTracerProvider()})
    _telemetry_checked_once(app)
    assert app._native_telemetry.enabled() is True
    assert "enabled" not in vars(app._native_telemetry)
    plain = FastAPI()
    _telemetry_checked_once(plain)
    assert plain._native_telemetry.enabled() is False
    with TestClient(plain) as test_client:
        assert test_client.get("/nothing").status_code == 404
