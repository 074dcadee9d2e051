"""Sandbox controls need an operator, production mode refuses the sandboxes, security headers on every answer
(a CSP for HTML that the portal's own inline style and script satisfy), and /metrics can be restricted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.portal.render import render_not_found
from govcast.app import build_app
from govcast.runtime import Runtime, portal_config
from govcast.samples import DEMO_DEPARTMENT
from producers.api.headers import csp_hash, inline_blocks
from producers.auth import new_token
from settings import Settings
from tests.conftest import cli


@pytest.fixture
def runtime(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    overrides = getattr(request, "param", {})
    made = Runtime.build(Settings(data_dir=tmp_path, channels=["portal"], **overrides), with_adapters=False)
    yield made
    made.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/sandbox/_clock", "/sandbox/wechat/_faults", "/sandbox/disclosure/_reset",
                                  "/sandbox/wechat_template/_followers"])
def test_sandbox_controls_need_an_operator_token(runtime: Runtime, path: str) -> None:
    operator = bearer(new_token(runtime.store, "operator", "值班员"))
    department = bearer(new_token(runtime.store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    body = {"advance_seconds": 1} if path.endswith("_clock") else {}
    with TestClient(build_app(runtime, run_pipeline=False)) as client:
        anonymous = client.post(path, json=body)
        assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["x-content-type-options"] == "nosniff"
        assert client.post(path, json=body, headers=department).status_code == 403
        assert client.post(path, json=body, headers=bearer("gct_revoked-or-made-up")).status_code == 401
        assert client.post(path, json=body, headers=operator).status_code not in (401, 403)
        assert client.get("/sandbox/wechat/_inspect").status_code == 200  # reads stay open for the demo's links


def test_production_mode_refuses_the_sandboxes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GOVCAST_SANDBOXES=false"):
        Settings(data_dir=tmp_path, production=True)
    done = cli("run", "--data-dir", str(tmp_path / "data"), env={"GOVCAST_PRODUCTION": "true"})
    assert done.returncode == 2 and "GOVCAST_SANDBOXES=false" in done.stderr


@pytest.mark.parametrize("runtime", [{"sandboxes": False, "production": True}], indirect=True)
def test_without_sandbox_mode_there_are_no_sandboxes(runtime: Runtime) -> None:
    operator = bearer(new_token(runtime.store, "operator", "值班员"))
    with TestClient(build_app(runtime, run_pipeline=False)) as client:
        for path in ("/sandbox/_clock", "/sandbox/wechat/_inspect"):
            assert client.get(path, headers=operator).status_code == 404


def test_security_headers_and_a_csp_the_portal_satisfies(runtime: Runtime) -> None:
    page = render_not_found(portal_config(runtime.settings).site_view())  # type: ignore[attr-defined]
    runtime.settings.portal_dir.mkdir(parents=True, exist_ok=True)
    (runtime.settings.portal_dir / "probe.html").write_text(page, encoding="utf-8")
    with TestClient(build_app(runtime, run_pipeline=False)) as client:
        for path in ("/healthz", "/v1/publications", "/portal/probe.html", "/docs", "/nothing-here"):
            response = client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
            assert response.headers["x-frame-options"] == "DENY", path
        portal = client.get("/portal/probe.html")
        policy = portal.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        blocks = inline_blocks(portal.text)
        assert {kind for kind, _ in blocks} == {"style", "script"}
        for kind, content in blocks:  # every inline block of the page is allowed by its hash, and only those
            assert csp_hash(content) in policy.split(f"{kind}-src")[1].split(";")[0], kind
        assert "content-security-policy" not in client.get("/healthz").headers  # JSON: no CSP needed
        assert "cdn.jsdelivr.net" in client.get("/docs").headers["content-security-policy"]


@pytest.mark.parametrize("runtime", [{"metrics_token": "m3trics-s3cret"}], indirect=True)
def test_metrics_can_require_a_token(runtime: Runtime) -> None:
    with TestClient(build_app(runtime, run_pipeline=False)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
        answered = client.get("/metrics", headers=bearer("m3trics-s3cret"))
        assert answered.status_code == 200 and "govcast_publications" in answered.text


@pytest.mark.parametrize("runtime", [{"metrics_allowed_networks": ["10.9.0.0/16"]}], indirect=True)
def test_metrics_can_be_limited_to_the_monitoring_network(runtime: Runtime) -> None:
    app = build_app(runtime, run_pipeline=False)
    with TestClient(app, client=("10.9.3.4", 40000)) as monitoring, TestClient(app, client=("192.0.2.8", 40000)) as other:
        assert monitoring.get("/metrics").status_code == 200
        assert other.get("/metrics").status_code == 403


@pytest.mark.parametrize("runtime", [{"auth_failures_per_minute": 6.0, "auth_failures_burst": 3}], indirect=True)
def test_sandbox_controls_count_token_guesses(runtime: Runtime) -> None:
    with TestClient(build_app(runtime, run_pipeline=False)) as client:
        statuses = [client.post("/sandbox/_clock", json={"advance_seconds": 1}, headers=bearer(f"gct_guess{i}")).status_code
                    for i in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert client.get("/v1/publications", headers=bearer("gct_guess9")).status_code == 429  # one allowance per address
