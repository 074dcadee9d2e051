"""URL checks and the sandbox-or-live choice every platform channel makes the same way."""

from __future__ import annotations

import re

from adapters.common.install import Installation

_HTTP_URL = re.compile(r"^https?://[^\s/]+")


def http_url(value: str, example: str = "https://api.example.gov.cn") -> str:
    """An absolute http(s) URL without its trailing slash (a pydantic validator body)."""
    if not _HTTP_URL.match(value):
        raise ValueError(f"must be an absolute http(s) URL, e.g. {example}")
    return value.rstrip("/")


def uses_sandbox(configured_url: str, install: Installation) -> bool:
    """No platform URL configured and sandboxes on: the channel talks to its bundled sandbox."""
    return not configured_url and install.sandboxes


def platform_url(configured_url: str, install: Installation, sandbox: str, production: str = "") -> str:
    """The configured URL; else the bundled sandbox at <base_url>/sandbox/<sandbox> (sandbox mode); else `production`."""
    if configured_url:
        return configured_url
    return f"{install.base_url}/sandbox/{sandbox}" if install.sandboxes else production
