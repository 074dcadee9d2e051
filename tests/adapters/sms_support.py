"""Test support for the SMS push channel: the Aliyun SMS sandbox and govcast's receipt endpoint on a real port.

`SmsPlatform` serves what `govcast run` mounts — /sandbox/sms/ and /callbacks/sms/<token> (with its
ledger) — through uvicorn in a thread, so the sender talks real HTTP to the sandbox and the sandbox
POSTs its SmsReport receipts back over HTTP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine
from starlette.types import ASGIApp

from adapters.base import AdapterServices
from adapters.channels import callback_routers, sandboxes
from adapters.push import PushAdapter, PushConfig
from adapters.push.render import render_push
from adapters.push.sms_client import SANDBOX_ACCESS_KEY_ID, SANDBOX_ACCESS_KEY_SECRET, SmsConfig, sms_config
from govcast.sinks import SmtpSink
from persistence.ledger import Ledger
from schemas.delivery import Action, DeliveryTask, delivery_id
from schemas.publication import Publication
from schemas.subscriber import SubscriberIn
from settings import Settings
from tests.conftest import free_port
from tests.push_support import business


class Served:
    """Any ASGI app on 127.0.0.1:<free port>, served by uvicorn in a thread."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class SmsPlatform:
    """The SMS sandbox plus govcast's receipt endpoint, sharing one ledger with the adapters built here."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.settings = Settings(data_dir=data_dir, public_url=self.url, **settings)
        self.ledger = Ledger(create_engine(f"sqlite:///{data_dir / 'ledger.db'}"))
        app = FastAPI()
        app.include_router(callback_routers()["sms"](self.settings, self.ledger), prefix="/callbacks/sms")
        app.mount("/sandbox/sms", sandboxes()["sms"](self.settings))
        self.served = Served(app, port)
        self.adapters: list[PushAdapter] = []

    @property
    def endpoint(self) -> str:
        return f"{self.url}/sandbox/sms/"

    def start(self) -> SmsPlatform:
        self.served.start()
        return self

    def stop(self) -> None:
        for adapter in self.adapters:
            adapter.close()
        self.served.stop()

    def sms_config(self, **changes: Any) -> SmsConfig:
        config = sms_config(self.settings)
        assert config is not None
        return config.model_copy(update=changes)

    def push(self, smtp: SmtpSink | None = None, **sms_changes: Any) -> PushAdapter:
        config = PushConfig(smtp_host="127.0.0.1" if smtp else "", smtp_port=smtp.port if smtp else 25,
                            quiet_channels=(), sms=self.sms_config(**sms_changes))
        adapter = PushAdapter(config, AdapterServices(ledger=self.ledger, public_url=self.url))
        self.adapters.append(adapter)
        return adapter

    # -- sandbox controls --------------------------------------------------------------------

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.url}/sandbox/sms/{path}"
        response = requests.post(url, json=body, timeout=10) if body is not None else requests.get(url, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def faults(self, **faults: Any) -> None:
        self.control("_faults", faults)

    def advance(self, seconds: float) -> None:
        self.control("_clock", {"advance_seconds": seconds})

    def inspect(self) -> dict[str, Any]:
        return self.control("_inspect")

    def undeliverable(self, *numbers: str) -> None:
        self.control("_numbers", {"undeliverable": list(numbers)})


def subscribe(push: PushAdapter, n: int, channels: str, **changes: Any) -> SubscriberIn:
    sub = SubscriberIn.model_validate(
        business(n, random.Random(n)) | {"region": "历下区", "channels": channels.split("|"), "qualifications": [],
                                         "topics": [], "daily_cap": 0, "mobile": f"1390000{n:04d}", **changes})
    push.store.upsert(sub)
    return sub


def task_for(pub: Publication, code: str, base_url: str) -> DeliveryTask:
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "push", Action.publish, code), channel="push",
                        action=Action.publish, publication=pub, recipient=code,
                        rendition=render_push(pub, Settings(public_url=base_url)))


# -- an independent RPC v1 signer (written from the documented rule, not from the code under test) --

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def encode(text: str) -> str:
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def sign(secret: str, params: dict[str, str], method: str = "GET") -> str:
    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{encode('/')}&{encode(canonical)}"
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def rpc(endpoint: str, action: str, params: dict[str, str], *, key_id: str = SANDBOX_ACCESS_KEY_ID,
        secret: str = SANDBOX_ACCESS_KEY_SECRET, method: str = "GET", sign_as: str | None = None,
        nonce: str | None = None, at: dt.datetime | None = None, **common: str) -> requests.Response:
    """One hand-signed call to the sandbox's RPC endpoint."""
    when = (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = {"AccessKeyId": key_id, "Action": action, "Format": "JSON", "SignatureMethod": "HMAC-SHA1",
             "SignatureNonce": nonce or uuid.uuid4().hex, "SignatureVersion": "1.0", "Timestamp": when,
             "Version": "2017-05-25", **common, **params}
    query["Signature"] = sign(secret, query, sign_as or method)
    if method == "POST":
        return requests.post(endpoint, data=query, timeout=10)
    return requests.get(endpoint, params=query, timeout=10)
