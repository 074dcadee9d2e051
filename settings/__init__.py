"""Settings: one typed object (pydantic-settings), built by a cached factory from environment and CLI flags.

Every setting has an environment variable `GOVCAST_<NAME>`; CLI flags (keyword arguments) override; an empty
variable counts as not set. Lists are comma-separated (GOVCAST_CHANNELS=portal,weibo), mappings are JSON objects
(GOVCAST_CATEGORIES={"政策文件": "zcwj"}), as they have been since the first release. A bad value is refused
naming its variable. Nothing is created at import time.

A package of its own between processors and adapters: processors, producers and the govcast/ wiring read these
settings; they read the channel registry (adapters/channels.py) for the channel names and each channel's own
settings model, and import nothing above adapters.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

from adapters import channels as channels_registry
from adapters.common.install import S
from schemas.vocab import DEFAULT_CATEGORIES, PUBLISHER_CODE_RE

NEW_MEDIA = ("wechat", "weibo")  # the channels a new-media review rule may name (GOVCAST_NEWMEDIA_REVIEW)


class Settings(BaseSettings):
    # enable_decoding off: list and mapping variables keep their own formats (comma list, JSON object), parsed by
    # the validators below with messages that name the variable.
    model_config = SettingsConfigDict(env_prefix="GOVCAST_", extra="forbid", env_ignore_empty=True,
                                      enable_decoding=False)

    data_dir: Path = Field(default=Path("govcast-data"), description="where the log, status store and portal live")
    host: str = Field(default="127.0.0.1", description="address the HTTP server binds")
    port: int = Field(default=8000, description="HTTP port")
    api_processes: int = Field(default=1, ge=1, le=32, description="`govcast run`, embedded mode: processes serving "
                               "the HTTP API on the one port (one also runs the pipeline; the others share its SQLite "
                               "store and log). More than 1 uses more cores for submissions; not with sandboxes "
                               "(their platforms live in one process's memory)")
    public_url: str | None = Field(default=None, description="external base URL (default http://host:port)")
    store_url: str | None = Field(default=None, description="SQLAlchemy URL of the status store (default SQLite in data_dir)")
    db_auto_upgrade: bool = Field(default=True, description="migrate the store's schema when a process opens it; "
                                  "false: refuse a database behind the code until `govcast db upgrade`")
    broker: str | None = Field(default=None, description="kafka://HOST:PORT for distributed mode; empty = embedded SQLite log")
    partitions: int = Field(default=4, ge=1, le=256, description="partitions per topic (embedded log; topics a Kafka worker creates)")
    categories: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES),
                                       description="组配分类 vocabulary: name -> portal column slug")
    sandboxes: bool = Field(default=False, description="sandbox mode: mount the bundled sandbox platforms under /sandbox/ "
                            "and talk to them (demo, tests; deploy/dev/govcast turns it on); their controls need an "
                            "operator token. Off: the channels need the real platforms' settings")
    production: bool = Field(default=False, description="production mode: refuses to start with sandboxes on")
    metrics_token: SecretStr = Field(default=SecretStr(""), description="when set, /metrics needs "
                                     "`Authorization: Bearer <this>` (Prometheus `authorization`); empty: open")
    metrics_allowed_networks: list[str] = Field(default_factory=list, description="when set, /metrics answers only "
                                                "clients in these IP networks, e.g. 10.0.0.0/8; empty: any")
    clock_start: dt.datetime | None = Field(
        default=None, description="sandbox mode only: the pipeline clock starts at this ISO 8601 instant (demos, tests)")
    channels: list[str] = Field(default_factory=channels_registry.default_channels,
                                description="configured channels (adapters/channels.py lists the known ones)")
    channel_env: dict[str, dict[str, Any]] = Field(
        default_factory=dict, json_schema_extra={"from_env": False},
        description="per channel name, values of its settings model that win over its GOVCAST_<CHANNEL>_* variables "
        "(tests, CLI flags)")
    max_attempts: int = Field(default=6, ge=1, description="delivery attempts before dead-lettering")
    channel_concurrency: int = Field(default=4, ge=1, le=64, description="deliveries of one channel in flight at once "
                                     "in one process, each in a thread of the channel's own pool (adapters block)")
    max_pending_checks: int = Field(default=720, ge=1, description="times to check a platform-accepted delivery for its result")
    retry_base_seconds: float = Field(default=5.0, gt=0, description="first retry delay; doubles each attempt")
    retry_max_seconds: float = Field(default=3600.0, gt=0, description="cap of the retry delay")
    inspection_warn_days: int = Field(default=10, ge=1, description="inspection watch: a column without a new item "
                                      "for this many days is a warning (new-media accounts too)")
    inspection_alarm_days: int = Field(default=14, ge=1, description="... and an alarm after this many days")
    inspection_column_days: dict[str, int] = Field(default_factory=dict, description="inspection watch: alarm days "
                                                   "per column (组配分类 name), overriding the default")
    inspection_rare_columns: list[str] = Field(default_factory=list, description="inspection watch: columns that are "
                                               "legitimately rare (not watched for staleness)")
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                      description="operator console: a session ends after this long without a request")
    scheduler_interval: float = Field(default=1.0, gt=0, description="seconds between checks for due scheduled publications")
    newmedia_review: list[str] = Field(
        default_factory=list, description="new-media review rule: entries `channel` (every department's copies) or "
        "`channel:publisher_code` (that department's), e.g. wechat,weibo:11370100004188591X; a named channel's copies "
        "wait for an operator's approval (awaiting_review) and go out within the send window and under the daily cap")
    newmedia_send_window: str = Field(default="08:00-21:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$",
                                      description="local time (Asia/Shanghai) in which the channels of the review rule "
                                      "post; later copies wait for the next window")
    newmedia_daily_cap: dict[str, int] = Field(default_factory=lambda: {"wechat": 8, "weibo": 10},
                                               description="posts per account (channel) per local day for the channels of "
                                               "the review rule; copies beyond it wait for the next day's window")

    rate_limit_per_second: float = Field(default=20.0, ge=0, description="API requests per second one token may make, "
                                         "sustained (shared by every API process on the store); 0: no limit")
    rate_limit_burst: int = Field(default=200, ge=1, description="requests one token may make at once after a quiet spell")
    auth_failures_per_minute: float = Field(default=10.0, ge=0, description="requests with an invalid token one client "
                                            "address may make a minute, sustained, before it gets 429 (shared like "
                                            "the per-token limit); 0: no limit")
    auth_failures_burst: int = Field(default=20, ge=1, description="requests with an invalid token one client address "
                                     "may make at once after a quiet spell")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="IP networks webhooks may reach although they are loopback, private or "
        "link-local (on-premises receivers, tests), e.g. 10.20.0.0/16,127.0.0.1/32; empty: public addresses only "
        "(`govcast run` in sandbox mode allows loopback, for the bundled receiver)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls), dotenv_settings, file_secret_settings

    @field_validator("clock_start", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("metrics_allowed_networks", "channels", "inspection_rare_columns", "webhook_allowed_networks",
                     "newmedia_review", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("categories", "inspection_column_days", "newmedia_daily_cap", mode="before")
    @classmethod
    def _json_object(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"GOVCAST_{str(info.field_name).upper()} must be a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"GOVCAST_{str(info.field_name).upper()} must be a JSON object, e.g. {{\"政策文件\": \"zcwj\"}}")
        return parsed

    @model_validator(mode="after")
    def _production_has_no_sandboxes(self) -> Settings:
        if self.production and self.sandboxes:
            raise ValueError("production mode refuses to start with the sandbox platforms: set GOVCAST_SANDBOXES=false "
                             "(and configure the real platforms)")
        return self

    @model_validator(mode="after")
    def _mass_send_time_in_the_send_window(self) -> Settings:
        """A paced WeChat account (review rule) posts only within the send window, and by mass send every post goes
        out at the mass send time: a time outside the window would post outside it every day, so it is refused.
        Without the review rule the window does not apply to WeChat, and any mass send time is fine."""
        if "wechat" not in self.channels or not any(e.partition(":")[0] == "wechat" for e in self.newmedia_review):
            return self
        from adapters.wechat.config import WechatSettings  # here: only installations that pace WeChat read it

        try:
            wechat = self.channel_settings(WechatSettings)
        except ValidationError:
            return self  # its own mistake is reported where the channel is configured, naming its variable
        hour, minute = (int(part) for part in wechat.mass_send_time.split(":"))
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in self.newmedia_send_window.split("-"))
        if wechat.mass_send and not start <= hour * 60 + minute < end:
            raise ValueError(f"GOVCAST_WECHAT_MASS_SEND_TIME {wechat.mass_send_time} is outside "
                             f"GOVCAST_NEWMEDIA_SEND_WINDOW {self.newmedia_send_window}, which paces the wechat channel "
                             "(GOVCAST_NEWMEDIA_REVIEW): the mass send would post outside the window every day; "
                             "set a mass send time within the window, or widen the window")
        return self

    @field_validator("webhook_allowed_networks", "metrics_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        entries = [v.strip() for v in value if v.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP network (e.g. 10.20.0.0/16)") from None
        return entries

    @field_validator("newmedia_review")
    @classmethod
    def _review_rule(cls, value: list[str]) -> list[str]:
        for entry in value:
            channel, _, code = entry.partition(":")
            if channel not in NEW_MEDIA:
                raise ValueError(f"GOVCAST_NEWMEDIA_REVIEW: {entry!r} names no new-media channel ({', '.join(NEW_MEDIA)})")
            if code and not PUBLISHER_CODE_RE.match(code):
                raise ValueError(f"GOVCAST_NEWMEDIA_REVIEW: {code!r} in {entry!r} is not a publisher code")
        return value

    @field_validator("newmedia_send_window")
    @classmethod
    def _window(cls, value: str) -> str:
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in value.split("-"))
        if not 0 <= start < end <= 24 * 60 or int(value[3:5]) > 59 or int(value[9:11]) > 59:
            raise ValueError(f"GOVCAST_NEWMEDIA_SEND_WINDOW: {value!r} is not a window within one day, "
                             "e.g. 08:00-21:00 (00:00-24:00: at any time)")
        return value

    @field_validator("newmedia_daily_cap")
    @classmethod
    def _caps(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, cap in value.items():
            if channel not in NEW_MEDIA or not isinstance(cap, int) or cap < 1:
                raise ValueError(f"GOVCAST_NEWMEDIA_DAILY_CAP: {channel!r}: {cap!r} must be a new-media channel "
                                 f"({', '.join(NEW_MEDIA)}) with a whole number of posts ≥ 1")
        return value

    _channel_settings: dict[tuple[type, str], Any] = PrivateAttr(default_factory=dict)

    def channel_settings(self, model: type[S]) -> S:
        """A channel's own settings (adapters/<name>/config.py): its GOVCAST_<CHANNEL>_* variables, `channel_env` on top."""
        overrides = self.channel_env.get(model.channel, {})
        # keyed by the overrides too: model_copy(update={"channel_env": …}) shares this cache with the original
        key = (model, json.dumps(overrides, sort_keys=True, default=str))
        if key not in self._channel_settings:
            self._channel_settings[key] = model(**overrides)
        return self._channel_settings[key]

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        value = [v.strip() for v in value if v.strip()]
        unknown = [c for c in value if c not in channels_registry.names()]
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(channels_registry.names())}")
        return value

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{(self.data_dir / 'status.db').resolve()}"

    @property
    def portal_dir(self) -> Path:
        return self.data_dir / "portal"

    @property
    def log_path(self) -> Path:
        """The embedded log's SQLite file: the status store's file when the store is SQLite (one commit keeps a
        submission's rows and its event: processors.outbox), else `bus.db` in the data dir."""
        url = make_url(self.store)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database))
        return self.legacy_log_path

    @property
    def legacy_log_path(self) -> Path:
        """Where the embedded log lived before it moved into the store's file (merged at start: govcast.runtime)."""
        return self.data_dir / "bus.db"


def from_env(name: str) -> bool:
    """Whether the setting `name` is read from GOVCAST_<NAME> (channel_env is not: channels read their own)."""
    extra = Settings.model_fields[name].json_schema_extra
    return not (isinstance(extra, dict) and extra.get("from_env") is False)


class _Environment(EnvSettingsSource):
    """The GOVCAST_* variables, except for the settings that are not read from the environment (`from_env`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if not from_env(field_name):
            return None, field_name, False
        return super().get_field_value(field, field_name)


@functools.cache
def get_settings(**overrides: Any) -> Settings:
    """Settings from GOVCAST_* environment variables, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def explain(exc: ValidationError) -> str:
    """What is wrong with the settings (these, or a channel's own), one problem per variable:
    `GOVCAST_PORT: Input should be a valid integer (got 'x')`."""
    prefix = _env_prefix(exc.title)
    problems = []
    for error in exc.errors():
        where = prefix + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and repr(got) not in message else ""
        problems.append(f"{where}: {message}{shown}" if where and not message.startswith("GOVCAST_") else message)
    return "; ".join(problems)


def _env_prefix(model_name: str) -> str:
    """The variables' prefix of the settings model called `model_name`: a channel's (GOVCAST_WECHAT_), else GOVCAST_."""
    for spec in channels_registry.specs():
        if spec.settings is not None and spec.settings.__name__ == model_name:
            return str(spec.settings.model_config.get("env_prefix", "GOVCAST_"))
    return "GOVCAST_"
