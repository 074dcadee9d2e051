"""Typed configuration of the hotline channel: what operators set (GOVCAST_HOTLINE_*) and what the adapter uses."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings

# The bundled sandbox's demo credentials (demo and tests only: refused against any configured platform URL).
SANDBOX_APP_ID = "govcast-sandbox"
SANDBOX_SECRET = "sandbox-hotline-secret-not-for-production"


class HotlineSettings(ChannelSettings):
    """GOVCAST_HOTLINE_*. An empty URL: the bundled sandbox at <public URL>/sandbox/hotline."""

    channel = "hotline"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_HOTLINE_")

    url: str = Field(default="", description="API root of the 12345 hotline knowledge base")
    app_id: str = Field(default=SANDBOX_APP_ID, description="app id issued by the knowledge base")
    secret: SecretStr = Field(default=SecretStr(""),
                              description="request signing secret; empty: the sandbox's demo secret (sandbox only)")
    phone: str = Field(default="12345", min_length=1, max_length=40,
                       description="咨询电话 every entry names (the hotline, or a department's line)")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of knowledge-base calls")


def hotline_env(install: Installation) -> HotlineSettings:
    return install.channel_settings(HotlineSettings)


class HotlineConfig(AdapterConfig):
    base_url: str = Field(description="the knowledge base's API root, e.g. http://127.0.0.1:8000/sandbox/hotline")
    app_id: str = Field(min_length=1, max_length=64, description="app id issued by the knowledge base")
    secret: SecretStr = Field(description="HMAC-SHA256 signing secret issued by the knowledge base")
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    network_attempts: int = Field(default=3, ge=1, le=10, description="in-call tries on connection errors and timeouts")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return urls.http_url(value, "https://12345.example.gov.cn/kb")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the knowledge base's signing secret is required")
        return value


def hotline_config(install: Installation) -> HotlineConfig:
    """The configured knowledge base, or the bundled sandbox (with its demo secret) when no URL is set."""
    env = hotline_env(install)
    secret = env.secret.get_secret_value()
    if env.url and not secret:
        raise ValueError("GOVCAST_HOTLINE_SECRET is required when GOVCAST_HOTLINE_URL names a knowledge base")
    if not env.url and not install.sandboxes:
        raise ValueError("the hotline channel needs GOVCAST_HOTLINE_URL (the sandbox is not mounted); "
                         "or leave hotline out of GOVCAST_CHANNELS")
    return HotlineConfig(base_url=urls.platform_url(env.url, install, "hotline"), app_id=env.app_id,
                         secret=SecretStr(secret or SANDBOX_SECRET), timeout=env.timeout_seconds, sandbox=not env.url)
