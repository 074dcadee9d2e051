"""Base of every channel's settings: a pydantic-settings model read from GOVCAST_<CHANNEL>_* variables."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _comma_list(value: Any) -> Any:
    # GOVCAST_PUSH_QUIET_CHANNELS=sms,wechat_template: the variables' format since the first release (not JSON)
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


class ChannelSettings(BaseSettings):
    """What an operator sets for one channel. Subclasses name their `channel` and env prefix.

    Keyword arguments win over the environment (tests, `Settings.channel_env`); unknown keywords are refused,
    secrets are `SecretStr`. The adapter's own config (AdapterConfig) is built from this by the channel's spec.
    """

    channel: ClassVar[str]
    model_config = SettingsConfigDict(extra="forbid", frozen=True)
