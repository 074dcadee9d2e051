"""The Aliyun SMS contract (dysmsapi, version 2017-05-25), shared by the SMS sender, its sandbox and the receipt callback.

- RPC signature v1 (shared/channels.md): the parameters sorted by name, RFC 3986 percent-encoded
  (A-Z a-z 0-9 - _ . ~ kept, space %20, * %2A), StringToSign = `<METHOD>&%2F&` + encode(canonical query),
  Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
- Length: 【signature】 + text; ≤ 70 characters one segment, else 67 per segment; at most 500.
- Template variables hold ≤ 35 characters and no URL (isv.PARAM_LENGTH_LIMIT, isv.PARAM_NOT_SUPPORT_URL):
  the link's fixed part (`<public URL>/s/`) is written in the approved template, `${code}` carries the
  short-link code (`${link}`, the older `<public URL>/go/${link}` form, still works).
- `SmsConfig` (typed, SecretStr secrets), built from settings by `sms_config`; in sandbox mode the
  sandbox's demo key pair, signature and template; a thread-safe token bucket; a small signed client.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from pydantic import Field, SecretStr, field_validator

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.push.settings import push_env
from adapters.transport import send, with_retries

VERSION = "2017-05-25"
PRODUCTION_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
CST = dt.timezone(dt.timedelta(hours=8), "CST")  # Aliyun's days (quotas, SendDate): Beijing time, no DST
# Demo values of the bundled sandbox (like a payment provider's test keys), used only while no endpoint is configured.
SANDBOX_ACCESS_KEY_ID = "LTAI5tGovcastSmsSandbox"
SANDBOX_ACCESS_KEY_SECRET = "sandbox-sms-access-key-secret"
SANDBOX_SIGN_NAME = "政策推送沙箱"
SANDBOX_TEMPLATE_CODE = "SMS_900000001"
SANDBOX_CODE_TEMPLATE_CODE = "SMS_900000002"  # a verification-code template (验证码类), for the subscription center
SANDBOX_LAPSE_TEMPLATE_CODE = "SMS_900000003"  # 政策变更通知: a policy the business received was repealed or replaced
CODE_TEMPLATE_TEXT = "您的验证码为${code}，10分钟内有效。如非本人操作，请忽略本短信。"
SANDBOX_CALLBACK_TOKEN = "sandbox-sms-receipt-token"
MAX_CHARS = 500
ONE_SEGMENT = 70
PER_SEGMENT = 67
PARAM_CHARS = 35
VARIABLE = re.compile(r"\$\{(\w+)\}")


# -- signing (RPC v1) --------------------------------------------------------------------------

def percent_encode(value: str) -> str:
    """RFC 3986: only A-Z a-z 0-9 - _ . ~ stay literal (UTF-8 bytes otherwise %XX; space %20, * %2A)."""
    return quote(str(value), safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(params: Mapping[str, str], method: str = "GET") -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(secret: str, params: Mapping[str, str], method: str = "GET") -> str:
    """Base64(HMAC-SHA1(secret + "&", StringToSign)) over every parameter except Signature itself."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    mac = hmac.new(f"{secret}&".encode(), string_to_sign(unsigned, method).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def timestamp(at: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if at is None else at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed(action: str, params: Mapping[str, str], *, key_id: str, secret: str, method: str = "GET",
           region: str = "cn-hangzhou", at: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The action's parameters plus the common ones and their Signature."""
    query = {"AccessKeyId": key_id, "Action": action, "Format": "JSON", "RegionId": region,
             "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or uuid.uuid4().hex, "SignatureVersion": "1.0",
             "Timestamp": timestamp(at), "Version": VERSION, **{k: str(v) for k, v in params.items()}}
    query["Signature"] = signature(secret, query, method)
    return query


# -- content ----------------------------------------------------------------------------------

def variables(template: str) -> list[str]:
    return list(dict.fromkeys(VARIABLE.findall(template)))


def render(template: str, params: Mapping[str, str]) -> str:
    return VARIABLE.sub(lambda m: str(params.get(m.group(1), m.group(0))), template)


def sms_length(sign_name: str, text: str) -> int:
    """Characters the carrier counts: the signature in 【】 plus the text (every character counts one)."""
    return len(f"【{sign_name}】{text}")


def segments(length: int) -> int:
    return 1 if length <= ONE_SEGMENT else math.ceil(length / PER_SEGMENT)


def clip(text: str, limit: int = PARAM_CHARS) -> str:
    """One line, no signature brackets, at most `limit` characters (… marks a cut)."""
    flat = " ".join(text.replace("【", "[").replace("】", "]").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


# -- configuration ------------------------------------------------------------------------------

def default_lapse_template_text(base_url: str) -> str:
    """The sandbox's approved template for lapse notices (${reason}: 已废止 / 已失效 / 已修改; the page names the new file)."""
    return f"您收到的《${{title}}》${{reason}}，详见 {base_url}/s/${{code}}"


def default_template_text(base_url: str) -> str:
    """The sandbox's approved template (a real installation registers its own and configures its text): one
    segment for the demo data (adapters/push/sms_text.py), so no ${reason} -- the other channels carry it."""
    return f"${{kind}}《${{title}}》已发布 {base_url}/s/${{code}}"


class SmsConfig(AdapterConfig):
    endpoint: str = Field(default=PRODUCTION_ENDPOINT, description="RPC endpoint; the sandbox is {public_url}/sandbox/sms/")
    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    sign_name: str = Field(min_length=1, max_length=40, description="approved signature, shown as 【…】")
    template_code: str = Field(min_length=1, max_length=40)
    template_text: str = Field(min_length=1, max_length=MAX_CHARS,
                               description="the approved template's text with ${kind} ${title} ${code} (segments)")
    lapse_template_code: str = Field(default="", max_length=40,
                                     description="approved template for lapse notices; empty: none are sent by SMS")
    lapse_template_text: str = Field(default="", max_length=MAX_CHARS,
                                     description="its text with ${title} ${reason} (已废止/已失效) ${code}")
    code_template_code: str = Field(default="", max_length=40,
                                    description="approved verification-code template with ${code}; empty: no SMS codes")
    region_id: str = "cn-hangzhou"
    timeout_seconds: float = Field(default=10.0, gt=0)
    rate_per_second: float = Field(default=20.0, gt=0)
    max_wait_seconds: float = Field(default=1.0, ge=0, description="wait in-call for the rate limit at most this long")
    receipt_check_seconds: float = Field(default=60.0, gt=0, description="without a receipt by then, poll QuerySendDetails")
    receipt_max_checks: int = Field(default=60, ge=1, description="then give up waiting and fall back to the next channel")
    reconcile_grace_seconds: float = Field(default=120.0, ge=0,
                                           description="after an unknown outcome, how long a sent SMS may take to show up")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return urls.http_url(value, PRODUCTION_ENDPOINT) + "/"  # the RPC endpoint is the root path


def uses_sandbox(settings: Installation) -> bool:
    return urls.uses_sandbox(push_env(settings).sms_endpoint, settings)


def sms_callback_token(settings: Installation) -> SecretStr:
    """The secret path part of the receipt URL `<public URL>/callbacks/sms/<token>`; empty: receipts refused."""
    token = push_env(settings).sms_callback_token.get_secret_value()
    return SecretStr(token or (SANDBOX_CALLBACK_TOKEN if uses_sandbox(settings) else ""))


def sms_config(settings: Installation) -> SmsConfig | None:
    """None when SMS is not configured (no endpoint and no sandbox): the adapter then skips the channel."""
    sandbox = uses_sandbox(settings)
    if not sandbox and not push_env(settings).sms_endpoint:
        return None
    secret = push_env(settings).sms_access_key_secret.get_secret_value()
    values = {"access_key_id": push_env(settings).sms_access_key_id, "access_key_secret": secret,
              "sign_name": push_env(settings).sms_sign_name, "template_code": push_env(settings).sms_template_code}
    if sandbox:
        demo = {"access_key_id": SANDBOX_ACCESS_KEY_ID, "access_key_secret": SANDBOX_ACCESS_KEY_SECRET,
                "sign_name": SANDBOX_SIGN_NAME, "template_code": SANDBOX_TEMPLATE_CODE}
        values = {k: v or demo[k] for k, v in values.items()}
    text = push_env(settings).sms_template_text or (default_template_text(settings.base_url) if sandbox else "")
    missing = [f"GOVCAST_PUSH_SMS_{k.upper()}" for k, v in {**values, "template_text": text}.items() if not v]
    if missing:
        raise ValueError(f"the SMS push channel needs {', '.join(missing)} "
                         "(or GOVCAST_SANDBOXES=true with an empty GOVCAST_PUSH_SMS_ENDPOINT for the sandbox)")
    return SmsConfig(
        endpoint=urls.platform_url(push_env(settings).sms_endpoint, settings, "sms"), template_text=text,
        access_key_id=values["access_key_id"], access_key_secret=SecretStr(values["access_key_secret"]),
        sign_name=values["sign_name"], template_code=values["template_code"], sandbox=sandbox,
        code_template_code=push_env(settings).sms_code_template_code or (SANDBOX_CODE_TEMPLATE_CODE if sandbox else ""),
        lapse_template_code=push_env(settings).sms_lapse_template_code or (SANDBOX_LAPSE_TEMPLATE_CODE if sandbox else ""),
        lapse_template_text=push_env(settings).sms_lapse_template_text
        or (default_lapse_template_text(settings.base_url) if sandbox else ""),
        timeout_seconds=push_env(settings).sms_timeout_seconds, rate_per_second=push_env(settings).sms_rate_per_second,
        receipt_check_seconds=push_env(settings).sms_receipt_check_seconds)


# -- rate limit ---------------------------------------------------------------------------------

# -- client -------------------------------------------------------------------------------------

class SmsClient:
    """Signed RPC calls; transport failures surface as adapters.transport.NotSent / MaybeSent."""

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self.session = requests.Session()

    def call(self, action: str, params: Mapping[str, str], *, idempotent: bool) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer). Short jittered retries: only when the request never left, unless `idempotent`."""
        c = self.config

        def once() -> requests.Response:  # a fresh nonce and timestamp on every try
            query = signed(action, params, key_id=c.access_key_id, secret=c.access_key_secret.get_secret_value(),
                           region=c.region_id)
            return send(self.session, "GET", f"{c.endpoint}?{canonical_query(query)}", timeout=c.timeout_seconds)

        response = with_retries(once, idempotent=idempotent)
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else {}

    def close(self) -> None:
        self.session.close()
