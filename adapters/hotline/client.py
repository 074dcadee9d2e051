"""Signed HTTP calls to the knowledge base (the shared signed JSON client; every call is safe to resend)."""

from __future__ import annotations

import time
from collections.abc import Callable

from adapters.common.signed_client import TRANSIENT, Answer, SignedJsonClient
from adapters.common.signing import RequestSigning
from adapters.hotline.config import HotlineConfig

__all__ = ["SIGNING", "TRANSIENT", "Answer", "KnowledgeBaseClient"]

SIGNING = RequestSigning("X-Hotline")


class KnowledgeBaseClient(SignedJsonClient):
    def __init__(self, config: HotlineConfig, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__(config, SIGNING, "govcast-hotline/1", wall=wall)
        self.config: HotlineConfig = config
