"""Subscriber: one business in the push directory (一企一档), as operators, the business itself and CSV imports give it.

Vocabulary in shared/domain.md ("Businesses and targeting"). No I/O here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from schemas.contacts import CONTACT_FIELDS, mask_contact
from schemas.vocab import credit_code_checksum_ok

INDUSTRY_RE = re.compile(r"^[A-T](?:\d{2}|\d{3}|\d{4})?$")  # GB/T 4754-2017: section letter, then 2/3/4 digits
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
QUIET_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
WHSEC_RE = re.compile(r"^whsec_[A-Za-z0-9+/]{32,88}={0,2}$")
SCALES = ("大型", "中型", "小型", "微型")
CSV_HEADER = ["credit_code", "name", "region", "industry", "scale", "qualifications", "topics", "mobile", "email",
              "webhook_url", "webhook_secret", "wechat_openid", "channels", "quiet_hours", "daily_cap"]


# Validation context for a record read back from the store: govcast wrote it after validating it in full (and in
# its normalized form), so the input checks below (check character, patterns, contact rules) are skipped; pydantic
# still parses and types every field. At 100,000 businesses a campaign reads 100,000 records, and the checks were
# about half of their validation's CPU. Records from anywhere else (API, CSV, the directory topic) get every check.
STORED: dict[str, bool] = {"stored": True}


class PushChannel(StrEnum):
    sms = "sms"
    email = "email"
    webhook = "webhook"
    wechat_template = "wechat_template"


CONTACT_FIELD = {PushChannel.sms: "mobile", PushChannel.email: "email", PushChannel.webhook: "webhook_url",
                 PushChannel.wechat_template: "wechat_openid"}


def credit_code_problem(code: str) -> str | None:
    if credit_code_checksum_ok(code):
        return None
    return "not a unified social credit code: 18 characters with a valid GB 32100 check character"


class SubscriberFields(BaseModel):
    """What a business (or an operator for it) may set."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    region: Annotated[str, Field(max_length=30)] = ""
    industry: str = ""
    scale: str = ""
    qualifications: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(default_factory=list, max_length=20)
    topics: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(default_factory=list, max_length=30)
    mobile: str | None = None
    email: str | None = None
    webhook_url: Annotated[str, Field(max_length=500)] | None = None
    webhook_secret: SecretStr | None = None
    wechat_openid: Annotated[str, Field(max_length=64)] | None = None
    channels: list[PushChannel] = Field(default_factory=list, max_length=4)
    quiet_hours: str | None = None  # local time "21:00-08:00"; None: no quiet hours of its own
    daily_cap: Annotated[int, Field(ge=0, le=1000)] = 5  # 0: no limit
    consent: bool = True

    @field_validator("industry")
    @classmethod
    def _industry(cls, v: str, info: ValidationInfo) -> str:
        if info.context is STORED:
            return v
        v = v.upper()
        if v and not INDUSTRY_RE.match(v):
            raise ValueError("industry must be a GB/T 4754 code: a section letter A-T, optionally 2-4 digits (C, C39, C3911)")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: str, info: ValidationInfo) -> str:
        if info.context is STORED:
            return v
        if v and v not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}")
        return v

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.context is STORED:
            return v
        if v and not MOBILE_RE.match(v):
            raise ValueError("mobile must be an 11-digit mainland number 1[3-9]xxxxxxxxx")
        return v or None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.context is STORED:
            return v
        if v and not EMAIL_RE.match(v):
            raise ValueError("not an email address")
        return v or None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.context is STORED:
            return v
        if v and not v.startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return v or None

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.context is STORED:
            return v
        if v is not None and v.get_secret_value() and not WHSEC_RE.match(v.get_secret_value()):
            raise ValueError("webhook_secret must be whsec_ + Base64 of 24-64 random bytes (Standard Webhooks)")
        return v if v is not None and v.get_secret_value() else None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.context is STORED:
            return v
        if v and not QUIET_RE.match(v):
            raise ValueError("quiet_hours must look like 21:00-08:00")
        return v or None

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[PushChannel], info: ValidationInfo) -> list[PushChannel]:
        if info.context is STORED:
            return v
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _contacts(self, info: ValidationInfo) -> SubscriberFields:
        if info.context is STORED:
            return self
        missing = [c.value for c in self.channels if not getattr(self, CONTACT_FIELD[c])]
        if missing:
            raise ValueError(f"preferred channel(s) {', '.join(missing)} need their contact point "
                             f"({', '.join(CONTACT_FIELD[PushChannel(c)] for c in missing)})")
        if PushChannel.webhook in self.channels and self.webhook_secret is None:
            raise ValueError("the webhook channel needs webhook_secret (whsec_…)")
        return self


class SubscriberIn(SubscriberFields):
    credit_code: str

    @field_validator("credit_code")
    @classmethod
    def _code(cls, v: str, info: ValidationInfo) -> str:
        if info.context is STORED:
            return v
        v = v.upper()
        problem = credit_code_problem(v)
        if problem:
            raise ValueError(problem)
        return v


# A self-registered business's email and SMS carry pushes only once their address was confirmed (double opt-in).
SELF_VERIFIED = ("email", "sms")


class Subscriber(SubscriberIn):
    """The stored record: what was given, plus consent time and unsubscribes."""

    consent_at: dt.datetime | None = None
    unsubscribed: list[str] = Field(default_factory=list)  # channel names, or "all"
    webhook_disabled: bool = False  # the endpoint answered 410 Gone
    # Who created the record: an operator (API), a CSV import, or the business itself (/subscribe, double opt-in).
    origin: Literal["operator", "imported", "self"] = "operator"
    verified: list[str] = Field(default_factory=list)  # contact channels the business confirmed ("email", "sms")
    paused: bool = False  # the business paused every push (its subscription page)

    @classmethod
    def from_stored(cls, doc: str | bytes) -> Subscriber:
        """A record as `stored()` wrote it to the store (see STORED)."""
        return cls.model_validate_json(doc, context=STORED)

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["webhook_secret"] = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        return data

    def public(self, *, reveal: Collection[str] = ()) -> dict[str, Any]:
        """As the API shows it: contacts masked but those named in `reveal` (for one record someone must correct);
        the webhook secret is never echoed."""
        data = self.model_dump(mode="json")
        data.update({name: mask_contact(name, data[name]) for name in CONTACT_FIELDS if name not in reveal})
        data["webhook_secret"] = "whsec_…" if self.webhook_secret else None
        data["verification"] = self.verification_state()
        return data

    def reachable_channels(self) -> list[PushChannel]:
        if not self.consent or self.paused or "all" in self.unsubscribed:
            return []
        return [c for c in self.channels if c.value not in self.unsubscribed
                and not (c is PushChannel.webhook and self.webhook_disabled)
                and not (self.origin == "self" and c.value in SELF_VERIFIED and c.value not in self.verified)]

    def verification_state(self) -> str:
        """As operators see it: imported, entered by an operator, or confirmed by the business (and on what)."""
        if self.origin != "self":
            return self.origin
        return "self: " + (", ".join(self.verified) + " verified" if self.verified else "unverified")


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def from_csv_row(row: dict[str, str]) -> SubscriberIn:
    """One CSV row (header CSV_HEADER; list fields separated by `|`) -> validated input (ValidationError if bad)."""
    values: dict[str, Any] = {k: (row.get(k) or "").strip() for k in CSV_HEADER}
    for key in ("qualifications", "topics", "channels"):
        values[key] = split_list(values[key])
    for key in ("mobile", "email", "webhook_url", "webhook_secret", "wechat_openid", "quiet_hours"):
        values[key] = values[key] or None
    values["daily_cap"] = values["daily_cap"] or 5
    return SubscriberIn.model_validate(values)
