"""Signed HTTP calls to the disclosure platform (the shared signed JSON client; network errors retried in-call)."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from adapters.common.signed_client import TRANSIENT, Answer, SignedJsonClient
from adapters.disclosure import signing
from adapters.disclosure.config import DisclosureConfig

__all__ = ["TRANSIENT", "Answer", "PlatformClient"]


class PlatformClient(SignedJsonClient):
    """Every operation of the contract is safe to resend (create dedups per source_id + unit)."""

    def __init__(self, config: DisclosureConfig, *, wall: Callable[[], float] = time.time,
                 session: requests.Session | None = None) -> None:
        super().__init__(config, signing.SIGNING, "govcast-disclosure/1", wall=wall, session=session)
        self.config: DisclosureConfig = config
