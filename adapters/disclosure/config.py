"""Typed configuration of the disclosure platform channel."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from adapters.base import AdapterConfig

# The secret the bundled sandbox accepts when none is configured (demo and tests only:
# govcast refuses to use it against any other platform URL).
SANDBOX_SECRET = "sandbox-disclosure-secret-not-for-production"


class DisclosureConfig(AdapterConfig):
    base_url: str = Field(description="the platform's API root, e.g. http://127.0.0.1:8000/sandbox/disclosure")
    app_id: str = Field(min_length=1, max_length=64, description="app id issued by the platform")
    secret: SecretStr = Field(description="HMAC-SHA256 signing secret issued by the platform")
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    network_attempts: int = Field(default=3, ge=1, le=10, description="in-call tries on connection errors and timeouts")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the disclosure platform's signing secret is required")
        return value
