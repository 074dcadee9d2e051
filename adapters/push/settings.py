"""What operators set for policy push: GOVCAST_PUSH_* (SMTP, webhooks, quiet hours, Aliyun SMS, WeChat template messages).

Its own module (re-exported by adapters.push.config) because the SMS contract module reads it too.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings, CommaList


class PushSettings(ChannelSettings):
    """GOVCAST_PUSH_*. No SMTP host: `govcast run` with sandboxes starts a local SMTP sink; no SMS endpoint: the sandbox."""

    channel = "push"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_PUSH_")

    smtp_host: str = Field(default="", description="SMTP server of push emails; empty: the local sink (sandbox) or no email")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port of smtp_host")
    smtp_user: str = Field(default="", description="SMTP login; empty: no AUTH")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS (production)")
    smtp_sink_port: int = Field(default=0, ge=0, le=65535,
                                description="port of the local SMTP sink in sandbox mode; 0: any free port")
    mail_from: str = Field(default="", description="From address of push emails, e.g. "
                           "'济南市政策推送 <zcts@jinan.gov.cn>' (its domain with SPF/DKIM for the SMTP server); required "
                           "with smtp_host outside sandbox mode; empty in sandbox mode: "
                           "'政策推送（演示） <push@govcast.example>'")
    consult_phone: str = Field(default="12345", min_length=1, max_length=17,
                               description="咨询电话 push emails and WeChat template messages name (the 12345 hotline, "
                               "or the policy office's line)")
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, description="timeout of one webhook call")
    quiet_hours: str = Field(default="21:00-08:00", description="default quiet hours (local time) of SMS/WeChat pushes")
    quiet_channels: CommaList = Field(default_factory=lambda: ["sms", "wechat_template"],
                                      description="push channels that respect quiet hours")
    timezone: str = Field(default="Asia/Shanghai", description="time zone of quiet hours and daily caps")
    # Aliyun dysmsapi; empty endpoint: the sandbox at <public URL>/sandbox/sms/
    sms_endpoint: str = Field(default="", description="Aliyun SMS endpoint (https://dysmsapi.aliyuncs.com/); "
                              "empty: the bundled sandbox in sandbox mode, else no SMS channel")
    sms_access_key_id: str = Field(default="", description="AccessKey ID; empty: the sandbox's demo key (sandbox only)")
    sms_access_key_secret: SecretStr = Field(default=SecretStr(""),
                                             description="AccessKey secret; empty: the sandbox's (sandbox only)")
    sms_sign_name: str = Field(default="", description="approved SMS signature (签名); empty: the sandbox's")
    sms_template_code: str = Field(default="", description="approved template code (SMS_…); empty: the sandbox's")
    sms_template_text: str = Field(default="", description="the approved template's text with ${kind} (政策文件, "
                                   "政策解读 …), ${title} (the short name) and <public URL>/s/${code} (segment "
                                   "counting; ${reason} and <public URL>/go/${link} work too); empty: the sandbox's")
    sms_lapse_template_code: str = Field(default="", description="approved template for lapse notices (政策变更, "
                                         "${title} ${reason} ${code}); empty: the sandbox's, else none by SMS")
    sms_lapse_template_text: str = Field(default="", description="that template's text (segment counting)")
    sms_code_template_code: str = Field(default="", description="approved verification-code template (验证码, "
                                        "text with ${code}) for the subscription center; empty: the sandbox's")
    sms_rate_per_second: float = Field(default=20.0, gt=0, description="SendSms calls per second at most (token bucket)")
    sms_receipt_check_seconds: float = Field(default=60.0, gt=0,
                                             description="without a receipt by then, poll QuerySendDetails")
    sms_callback_token: SecretStr = Field(default=SecretStr(""), description="secret path part of the receipt URL "
                                          "<public URL>/callbacks/sms/<token>; empty: the sandbox's (sandbox only)")
    sms_timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of Aliyun SMS calls")
    # WeChat template messages of the official account configured by GOVCAST_WECHAT_*
    wechat_template_id: str = Field(default="", description="template id of the policy-push template message; "
                                    "empty: the sandbox's demo template (sandbox) or no WeChat template channel")
    wechat_template_fields: CommaList = Field(
        default_factory=lambda: ["thing1", "thing2", "thing3", "phrase4", "phone_number5"],
        description="the template's data keys that carry the document's short name, the publisher, the reason, what "
        "the item is (政策文件, 政策解读 …) and the 咨询电话, in this order (the first three at least)")
    wechat_template_rate_per_second: float = Field(default=50.0, gt=0,
                                                   description="template messages sent per second at most (token bucket)")
    wechat_template_receipt_wait_seconds: float = Field(
        default=300.0, ge=0, description="after WeChat accepted a message, seconds to wait for its TEMPLATESENDJOBFINISH "
        "receipt before counting it delivered (unconfirmed)")


def push_env(install: Installation) -> PushSettings:
    return install.channel_settings(PushSettings)
