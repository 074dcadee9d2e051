"""The local SMTP sink of the push demo (sandbox mode).

`govcast run` starts it on loopback when sandboxes are on and no SMTP server is configured; mails
land as .eml files under <data dir>/mail/. (The webhook receiver is the push channel's sandbox,
adapters/push/webhook_sandbox.py, mounted at `/sandbox/webhook/`.)
"""

from __future__ import annotations

import contextlib
import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller

from adapters.push.settings import push_env

if TYPE_CHECKING:
    from settings import Settings


class MailStore:
    """aiosmtpd handler keeping every accepted message (and writing it to `directory` when given)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=policy.default)
        item = {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": str(msg["Subject"]),
                "message_id": str(msg["Message-ID"]), "headers": {k: str(v) for k, v in msg.items()}, "raw": raw}
        with self._lock:
            self.messages.append(item)
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                name = str(msg["Message-ID"]).strip("<>").replace("/", "_")
                (self.directory / f"{name}.eml").write_bytes(raw)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int = 0, directory: Path | None = None) -> None:
        self.store = MailStore(directory)
        self.controller = Controller(self.store, hostname="127.0.0.1", port=port or _free_port())

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp_sink(settings: Settings) -> SmtpSink | None:
    """The local SMTP sink, when the push channel runs in sandbox mode without an SMTP server."""
    push = push_env(settings)
    if not settings.sandboxes or "push" not in settings.channels or push.smtp_host:
        return None
    return SmtpSink(push.smtp_sink_port, settings.data_dir / "mail").start()
