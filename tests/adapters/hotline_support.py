"""The hotline knowledge-base sandbox served over real HTTP under its mount prefix, and publications for it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import requests
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.hotline.adapter import HotlineAdapter
from adapters.hotline.config import SANDBOX_APP_ID, SANDBOX_SECRET, HotlineConfig
from adapters.hotline.render import render_hotline
from adapters.hotline.sandbox import KnowledgeBase, create_sandbox
from govcast.samples import sample_interpretation, sample_policy
from processors.normalize import normalize
from schemas.delivery import Action, DeliveryTask, delivery_id
from schemas.publication import IndexNo, Publication, PublicationIn, Validity
from settings import Settings
from tests.conftest import free_port

PREFIX = "/sandbox/hotline"  # as `govcast run` mounts it: signed paths include the prefix
INSTALL = Settings(public_url="http://gov.test")


def policy(pub_id: str = "pub_hotline0001", version: int = 1, **changes: Any) -> Publication:
    """The sample policy, normalized as the API would store it."""
    return _normalized(sample_policy(**changes), pub_id, version)


def interpretation(policy_id: str, pub_id: str = "pub_hotline0002", **changes: Any) -> Publication:
    return _normalized(sample_interpretation(policy_id, **changes), pub_id, 1)


def _normalized(payload: dict[str, Any], pub_id: str, version: int) -> Publication:
    fields = PublicationIn.model_validate(payload)
    index = IndexNo(code=fields.publisher_code, year=2025, sequence=int(pub_id[-4:]), width=5)
    return normalize(fields, publication_id=pub_id, version=version, department=fields.publisher_code, index=index,
                     submitted_at=dt.datetime(2025, 4, 1, 2, 0, tzinfo=dt.UTC))


def task(pub: Publication, action: Action = Action.publish) -> DeliveryTask:
    rendition = render_hotline(pub, INSTALL) if action is Action.publish and pub.validity is Validity.valid else {}
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "hotline", action), channel="hotline",
                        action=action, publication=pub, rendition=rendition)


class HotlineHandle:
    """The knowledge-base sandbox on a real port, as the shared adapter contract's handle."""

    def __init__(self, tmp: Path) -> None:
        self.kb = KnowledgeBase(SANDBOX_APP_ID, SANDBOX_SECRET)
        app = Starlette(routes=[Mount(PREFIX, app=create_sandbox(self.kb))])
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "hotline sandbox did not start"
        self.url = f"http://127.0.0.1:{port}{PREFIX}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def adapter(self, **changes: Any) -> HotlineAdapter:
        config = HotlineConfig(**{"base_url": self.url, "app_id": SANDBOX_APP_ID, "secret": SecretStr(SANDBOX_SECRET),
                                  "timeout": 5, "sandbox": True, **changes})
        return HotlineAdapter(config)

    def task(self) -> DeliveryTask:
        return task(policy())

    def faults(self, **spec: Any) -> None:
        requests.post(self.url + "/_faults", json=spec, timeout=5).raise_for_status()

    def inspect(self) -> dict[str, Any]:
        answer = requests.get(self.url + "/_inspect", timeout=5)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def entry(self, source_id: str) -> dict[str, Any]:
        return next(e for e in self.inspect()["entries"] if e["source_id"] == source_id)
