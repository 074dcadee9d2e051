"""Typed configuration of the disclosure platform channel."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings

# The secret the bundled sandbox accepts when none is configured (demo and tests only:
# govcast refuses to use it against any other platform URL).
SANDBOX_SECRET = "sandbox-disclosure-secret-not-for-production"


class DisclosureSettings(ChannelSettings):
    """GOVCAST_DISCLOSURE_*. An empty URL: the bundled sandbox at <public URL>/sandbox/disclosure."""

    channel = "disclosure"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_DISCLOSURE_")

    url: str = Field(default="", description="API root of the public-enterprise disclosure platform")
    app_id: str = Field(default="govcast-sandbox", description="app id issued by the disclosure platform")
    secret: SecretStr = Field(default=SecretStr(""),
                              description="request signing secret; empty: the sandbox's demo secret (sandbox only)")
    units_file: str = Field(default="", description="unit registry, JSON or CSV (credit_code,name,sector); empty: bundled sample")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of disclosure platform calls")


def disclosure_env(install: Installation) -> DisclosureSettings:
    return install.channel_settings(DisclosureSettings)


class DisclosureConfig(AdapterConfig):
    base_url: str = Field(description="the platform's API root, e.g. http://127.0.0.1:8000/sandbox/disclosure")
    app_id: str = Field(min_length=1, max_length=64, description="app id issued by the platform")
    secret: SecretStr = Field(description="HMAC-SHA256 signing secret issued by the platform")
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    network_attempts: int = Field(default=3, ge=1, le=10, description="in-call tries on connection errors and timeouts")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return urls.http_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the disclosure platform's signing secret is required")
        return value


def disclosure_config(install: Installation) -> DisclosureConfig:
    """The configured platform, or the bundled sandbox (with its demo secret) when no URL is set."""
    env = disclosure_env(install)
    secret = env.secret.get_secret_value()
    if env.url and not secret:
        raise ValueError("GOVCAST_DISCLOSURE_SECRET is required when GOVCAST_DISCLOSURE_URL names a platform")
    if not env.url and not install.sandboxes:
        raise ValueError("the disclosure channel needs GOVCAST_DISCLOSURE_URL (the sandbox is not mounted); "
                         "or leave disclosure out of GOVCAST_CHANNELS")
    return DisclosureConfig(
        base_url=urls.platform_url(env.url, install, "disclosure"), app_id=env.app_id,
        secret=SecretStr(secret or SANDBOX_SECRET), timeout=env.timeout_seconds, sandbox=not env.url,
    )
