"""Settings: one typed object (pydantic-settings), built by a cached factory from environment and CLI flags.

Every setting has an environment variable `GOVCAST_<NAME>`; CLI flags (keyword arguments) override; an empty
variable counts as not set. Lists are comma-separated (GOVCAST_CHANNELS=portal,weibo), mappings are JSON objects
(GOVCAST_CATEGORIES={"政策文件": "zcwj"}), as they have been since the first release. A bad value is refused
naming its variable. Nothing is created at import time.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.vocab import DEFAULT_CATEGORIES


class Settings(BaseSettings):
    # enable_decoding off: list and mapping variables keep their own formats (comma list, JSON object), parsed by
    # the validators below with messages that name the variable.
    model_config = SettingsConfigDict(env_prefix="GOVCAST_", extra="forbid", env_ignore_empty=True,
                                      enable_decoding=False)

    data_dir: Path = Field(default=Path("govcast-data"), description="where the log, status store and portal live")
    host: str = Field(default="127.0.0.1", description="address the HTTP server binds")
    port: int = Field(default=8000, description="HTTP port")
    public_url: str | None = Field(default=None, description="external base URL (default http://host:port)")
    store_url: str | None = Field(default=None, description="SQLAlchemy URL of the status store (default SQLite in data_dir)")
    db_auto_upgrade: bool = Field(default=True, description="migrate the store's schema when a process opens it; "
                                  "false: refuse a database behind the code until `govcast db upgrade`")
    broker: str | None = Field(default=None, description="kafka://HOST:PORT for distributed mode; empty = embedded SQLite log")
    partitions: int = Field(default=4, ge=1, le=256, description="partitions per topic (embedded log; topics a Kafka worker creates)")
    site_name: str = Field(default="济南市人民政府（演示）", description="portal site name (SiteName meta)")
    site_domain: str = Field(default="www.jinan.gov.cn", description="SiteDomain meta")
    site_id_code: str = Field(default="3701000001", description="网站标识码 (10 chars)")
    site_sponsor: str = Field(default="济南市人民政府办公厅", description="主办单位 in the footer")
    site_phone: str = Field(default="0531-12345", description="联系电话 in the footer")
    icp: str = Field(default="鲁ICP备00000000号（演示）", description="ICP备案号")
    categories: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES),
                                       description="组配分类 vocabulary: name -> portal column slug")
    sandboxes: bool = Field(default=True, description="sandbox mode: mount the bundled sandbox platforms under /sandbox/ "
                            "(demo, tests); their controls need an operator token")
    production: bool = Field(default=False, description="production mode: refuses to start with sandboxes on")
    metrics_token: SecretStr = Field(default=SecretStr(""), description="when set, /metrics needs "
                                     "`Authorization: Bearer <this>` (Prometheus `authorization`); empty: open")
    metrics_allowed_networks: list[str] = Field(default_factory=list, description="when set, /metrics answers only "
                                                "clients in these IP networks, e.g. 10.0.0.0/8; empty: any")
    clock_start: dt.datetime | None = Field(
        default=None, description="sandbox mode only: the pipeline clock starts at this ISO 8601 instant (demos, tests)")
    channels: list[str] = Field(default_factory=lambda: ["portal", "wechat", "weibo", "disclosure", "push"],
                                description="configured channels")
    max_attempts: int = Field(default=6, ge=1, description="delivery attempts before dead-lettering")
    channel_concurrency: int = Field(default=4, ge=1, le=64, description="deliveries of one channel in flight at once "
                                     "in one process, each in a thread of the channel's own pool (adapters block)")
    max_pending_checks: int = Field(default=720, ge=1, description="times to check a platform-accepted delivery for its result")
    retry_base_seconds: float = Field(default=5.0, gt=0, description="first retry delay; doubles each attempt")
    retry_max_seconds: float = Field(default=3600.0, gt=0, description="cap of the retry delay")
    page_size: int = Field(default=20, ge=1, le=200, description="items per portal list page")
    inspection_warn_days: int = Field(default=10, ge=1, description="inspection watch: a column without a new item "
                                      "for this many days is a warning (new-media accounts too)")
    inspection_alarm_days: int = Field(default=14, ge=1, description="... and an alarm after this many days")
    inspection_column_days: dict[str, int] = Field(default_factory=dict, description="inspection watch: alarm days "
                                                   "per column (组配分类 name), overriding the default")
    inspection_rare_columns: list[str] = Field(default_factory=list, description="inspection watch: columns that are "
                                               "legitimately rare (not watched for staleness)")
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                      description="operator console: a session ends after this long without a request")
    portal_refresh_seconds: float = Field(default=1.0, ge=0, le=300,
                                          description="portal home/feed/sitemap/JSON index rewritten at most this often")
    site_police_beian: str = Field(default="", description="公安机关备案号 in the portal footer, e.g. 鲁公网安备 37010202000001号")
    site_conac_url: str = Field(default="", description="党政机关网站标识 link (conac.cn) in the portal footer; empty: not shown")
    site_error_report_url: str = Field(
        default="https://zfwzzc.www.gov.cn/check_web/errorInfo_querySiteId.action",
        description="我为政府网站找错 link in the portal footer (the site's 网站标识码 is appended as siteCode)")
    scheduler_interval: float = Field(default=1.0, gt=0, description="seconds between checks for due scheduled publications")
    # WeChat official account (adapters.wechat); empty base URL: the sandbox when sandboxes are on, else api.weixin.qq.com
    wechat_base_url: str = Field(default="", description="WeChat API base URL")
    wechat_appid: str = Field(default="", description="official account AppID; empty: the sandbox's demo AppID")
    wechat_secret: SecretStr = Field(default=SecretStr(""), description="official account AppSecret; empty: the sandbox's")
    wechat_token: SecretStr = Field(default=SecretStr(""), description="callback Token (signature key); empty: the sandbox's")
    wechat_author: str = Field(default="", description="article author (≤ 16 chars); empty: the publisher")
    wechat_timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of WeChat API calls")
    wechat_poll_seconds: float = Field(default=1.0, gt=0, description="first wait before checking a publish job")
    wechat_reconcile_grace_seconds: float = Field(default=600.0, ge=0,
                                                  description="after a submit timeout, seconds to look for the article before resubmitting")
    # Weibo (adapters.weibo); empty base URL: the sandbox when sandboxes are on, else api.weibo.com
    weibo_base_url: str = Field(default="", description="Weibo API base URL")
    weibo_access_token: SecretStr = Field(default=SecretStr(""), description="OAuth2 access token; empty: the sandbox's")
    weibo_safe_domain: str = Field(default="", description="the app's registered safe domain; empty: the host of the public URL")
    weibo_timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of Weibo API calls")

    # Disclosure platform (adapters.disclosure); empty URL: the bundled sandbox at <public URL>/sandbox/disclosure
    disclosure_url: str = Field(default="", description="API root of the public-enterprise disclosure platform")
    disclosure_app_id: str = Field(default="govcast-sandbox", description="app id issued by the disclosure platform")
    disclosure_secret: SecretStr = Field(default=SecretStr(""),
                                         description="request signing secret; empty: the sandbox's demo secret (sandbox only)")
    disclosure_units_file: str = Field(default="",
                                       description="unit registry, JSON or CSV (credit_code,name,sector); empty: bundled sample")
    disclosure_timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of disclosure platform calls")
    # Policy push (adapters.push); no SMTP host: `govcast run` with sandboxes starts a local SMTP sink
    push_smtp_host: str = Field(default="", description="SMTP server of push emails; empty: the local sink (sandbox) or no email")
    push_smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port of push_smtp_host")
    push_smtp_user: str = Field(default="", description="SMTP login; empty: no AUTH")
    push_smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password")
    push_smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS (production)")
    push_smtp_sink_port: int = Field(default=0, ge=0, le=65535,
                                     description="port of the local SMTP sink in sandbox mode; 0: any free port")
    push_mail_from: str = Field(default="govcast@localhost", description="From address of push emails")
    rate_limit_per_second: float = Field(default=20.0, ge=0, description="API requests per second one token may make, "
                                         "sustained (shared by every API process on the store); 0: no limit")
    rate_limit_burst: int = Field(default=200, ge=1, description="requests one token may make at once after a quiet spell")
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, description="IP networks webhooks may reach although they are loopback, private or "
        "link-local (on-premises receivers, tests), e.g. 10.20.0.0/16,127.0.0.1/32; empty: public addresses only "
        "(`govcast run` in sandbox mode allows loopback, for the bundled receiver)")
    push_webhook_timeout_seconds: float = Field(default=15.0, gt=0, description="timeout of one webhook call")
    push_quiet_hours: str = Field(default="21:00-08:00", description="default quiet hours (local time) of SMS/WeChat pushes")
    push_quiet_channels: list[str] = Field(default_factory=lambda: ["sms", "wechat_template"],
                                           description="push channels that respect quiet hours")
    push_timezone: str = Field(default="Asia/Shanghai", description="time zone of quiet hours and daily caps")
    # Policy push by SMS (adapters.push.sms, Aliyun dysmsapi); empty endpoint: the sandbox at <public URL>/sandbox/sms/
    push_sms_endpoint: str = Field(default="", description="Aliyun SMS endpoint (https://dysmsapi.aliyuncs.com/); "
                                   "empty: the bundled sandbox in sandbox mode, else no SMS channel")
    push_sms_access_key_id: str = Field(default="", description="AccessKey ID; empty: the sandbox's demo key (sandbox only)")
    push_sms_access_key_secret: SecretStr = Field(default=SecretStr(""),
                                                  description="AccessKey secret; empty: the sandbox's (sandbox only)")
    push_sms_sign_name: str = Field(default="", description="approved SMS signature (签名); empty: the sandbox's")
    push_sms_template_code: str = Field(default="", description="approved template code (SMS_…); empty: the sandbox's")
    push_sms_template_text: str = Field(default="", description="the approved template's text with ${title}, ${reason} "
                                        "and <public URL>/go/${link} (segment counting); empty: the sandbox's")
    push_sms_lapse_template_code: str = Field(default="", description="approved template for lapse notices (政策变更, "
                                              "${title} ${reason} ${link}); empty: the sandbox's, else none by SMS")
    push_sms_lapse_template_text: str = Field(default="", description="that template's text (segment counting)")
    push_sms_code_template_code: str = Field(default="", description="approved verification-code template (验证码, "
                                             "text with ${code}) for the subscription center; empty: the sandbox's")
    push_sms_rate_per_second: float = Field(default=20.0, gt=0, description="SendSms calls per second at most (token bucket)")
    push_sms_receipt_check_seconds: float = Field(default=60.0, gt=0,
                                                  description="without a receipt by then, poll QuerySendDetails")
    push_sms_callback_token: SecretStr = Field(default=SecretStr(""), description="secret path part of the receipt URL "
                                               "<public URL>/callbacks/sms/<token>; empty: the sandbox's (sandbox only)")
    push_sms_timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of Aliyun SMS calls")
    # Policy push by WeChat template message (adapters.push.wechat_template): the official account of wechat_*
    push_wechat_template_id: str = Field(default="", description="template id of the policy-push template message; "
                                         "empty: the sandbox's demo template (sandbox) or no WeChat template channel")
    push_wechat_template_fields: list[str] = Field(
        default_factory=lambda: ["thing1", "thing2", "thing3"],
        description="the template's data keys that carry the policy title, the publisher and the reason, in this order")
    push_wechat_template_rate_per_second: float = Field(default=50.0, gt=0,
                                                        description="template messages sent per second at most (token bucket)")
    push_wechat_template_receipt_wait_seconds: float = Field(
        default=300.0, ge=0, description="after WeChat accepted a message, seconds to wait for its TEMPLATESENDJOBFINISH "
        "receipt before counting it delivered (unconfirmed)")

    @field_validator("clock_start", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("metrics_allowed_networks", "channels", "inspection_rare_columns", "webhook_allowed_networks",
                     "push_quiet_channels", "push_wechat_template_fields", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("categories", "inspection_column_days", mode="before")
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
        return self.data_dir / "bus.db"


@functools.cache
def get_settings(**overrides: Any) -> Settings:
    """Settings from GOVCAST_* environment variables, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def explain(exc: ValidationError) -> str:
    """What is wrong with the settings, one problem per variable: `GOVCAST_PORT: Input should be a valid integer (got 'x')`."""
    problems = []
    for error in exc.errors():
        where = "GOVCAST_" + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) and repr(got) not in message else ""
        problems.append(f"{where}: {message}{shown}" if where and not message.startswith("GOVCAST_") else message)
    return "; ".join(problems)
