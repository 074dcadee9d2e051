"""Test support for the WeChat and Weibo adapters: the sandboxes on a real local port.

`Platforms` serves what `govcast run` mounts — /sandbox/wechat, /sandbox/weibo and
/callbacks/wechat (with its ledger) — through uvicorn in a thread, so adapters talk real
HTTP to the sandboxes and the WeChat sandbox POSTs its signed callbacks back over HTTP.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import uvicorn
from fastapi import FastAPI, Response
from sqlalchemy import create_engine

from adapters.base import AdapterServices
from adapters.channels import callback_routers, sandboxes
from adapters.wechat import WechatAdapter, wechat_config
from adapters.wechat.render import render_wechat
from adapters.weibo import WeiboAdapter, weibo_config
from adapters.weibo.render import render_weibo
from persistence.ledger import Ledger
from schemas import Action, DeliveryTask, Publication, delivery_id
from settings import Settings
from tests.conftest import free_port
from tests.portal_support import build_publication

RENDERERS: dict[str, Callable[[Publication, Settings], dict[str, Any]]] = {"wechat": render_wechat, "weibo": render_weibo}
_ids = itertools.count(1)


class Platforms:
    """The WeChat and Weibo sandboxes plus govcast's callback endpoint, on 127.0.0.1:<free port>."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(data_dir=data_dir, public_url=self.url, **settings)
        self.ledger = Ledger(create_engine(f"sqlite:///{data_dir / 'ledger.db'}"))
        app = FastAPI()
        app.include_router(callback_routers()["wechat"](self.settings, self.ledger), prefix="/callbacks/wechat")
        for name in ("wechat", "weibo"):
            app.mount(f"/sandbox/{name}", sandboxes()[name](self.settings))
        # Pictures a department's body links to, on this installation's own origin (GET /files/<name>):
        # (bytes, media type), an int for an HTTP status to answer instead, or a str to redirect to.
        self.files: dict[str, tuple[bytes, str] | int | str] = {}

        @app.get("/files/{name}")
        def file(name: str) -> Response:
            found = self.files.get(name, 404)
            if isinstance(found, str):
                return Response(status_code=302, headers={"Location": found})
            return Response(status_code=found) if isinstance(found, int) else Response(found[0], media_type=found[1])

        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Platforms:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    # -- adapters and tasks ------------------------------------------------------------------

    def services(self) -> AdapterServices:
        return AdapterServices(ledger=self.ledger, public_url=self.url)

    def wechat(self, **changes: Any) -> WechatAdapter:
        config = wechat_config(self.settings).model_copy(update=changes)
        return WechatAdapter(config, self.services())

    def weibo(self, **changes: Any) -> WeiboAdapter:
        config = weibo_config(self.settings).model_copy(update=changes)
        return WeiboAdapter(config, self.services())

    def task(self, channel: str, pub: Publication, action: Action = Action.publish, **changes: Any) -> DeliveryTask:
        rendition = RENDERERS[channel](pub, self.settings) if action is Action.publish else {}
        return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, channel, action), channel=channel, action=action,
                            publication=pub, rendition=rendition, **changes)

    # -- sandbox controls --------------------------------------------------------------------

    def control(self, platform: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.url}/sandbox/{platform}/{path}"
        response = requests.post(url, json=body or {}, timeout=10) if body is not None else requests.get(url, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def faults(self, platform: str, **faults: Any) -> None:
        self.control(platform, "_faults", faults)

    def advance(self, platform: str, seconds: float) -> None:
        self.control(platform, "_clock", {"advance_seconds": seconds})

    def inspect(self, platform: str) -> dict[str, Any]:
        return self.control(platform, "_inspect")


def publication(**changes: Any) -> Publication:
    """A fresh sample policy with its own id (each test publishes its own item)."""
    from govcast.samples import sample_policy

    n = next(_ids)
    return build_publication(f"pub_nm{n:04d}{int(time.time() * 1000) % 100000:05d}", sample_policy(**changes), seq=n)


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def later(task: DeliveryTask, *, checks: int | None = None, attempt: int | None = None) -> DeliveryTask:
    """The same task as the host hands it back (a Pending check or a retry)."""
    update: dict[str, Any] = {"not_before": dt.datetime.now(dt.UTC)}
    if checks is not None:
        update["checks"] = checks
    if attempt is not None:
        update["attempt"] = attempt
    return task.model_copy(update=update)
