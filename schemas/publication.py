"""Publication: one disclosure item as departments submit it and as the pipeline carries it.

Field names are the public contract of DESIGN.md (departments' CMSs integrate
against them). `PublicationIn` is what a department sends; `Publication` is the
normalized record every stage and channel works from; `PublicationOut` is what
the API answers.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.cover import normalized as normalized_cover
from schemas.screening import Finding
from schemas.vocab import DOC_NO_RE, INDEX_NO_RE, PUBLISHER_CODE_RE, credit_code_checksum_ok, theme_problem

MAX_BODY_CHARS = 200_000  # ~400 KB of UTF-8 Chinese; real policy documents are far smaller
# Dates a government document can carry. Outside, time-zone arithmetic overflows (year 1 or 9999)
# and a 索引号 year of 9999 would be allocated; such values are typing mistakes, refused as 422.
MIN_YEAR, MAX_YEAR = 1900, 2100


def plausible_date(value: dt.date | dt.datetime | None) -> dt.date | dt.datetime | None:
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


class Kind(StrEnum):
    policy = "policy"
    interpretation = "interpretation"
    notice = "notice"
    news = "news"


class Validity(StrEnum):
    valid = "有效"
    amended = "已修改"  # still in force, in the form a later publication (relation "amends") gave it
    expired = "失效"
    repealed = "废止"

    @property
    def in_force(self) -> bool:
        return self in (Validity.valid, Validity.amended)

    @property
    def phrase(self) -> str:
        """What happened to the document, as a sentence says it: 已废止, 已失效, 已修改 (有效 for one in force)."""
        return self.value if self in (Validity.valid, Validity.amended) else f"已{self.value}"


# A channel's wire name. Which names exist is the channel registry's business (adapters/channels.py); the
# API checks submissions against it (schemas import nothing of the project, so this is only the shape).
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
# A per-channel override: {rendered field: text}. Which fields a channel lets a department set, and their limits,
# are the channel's business (ChannelSpec.overrides); the API checks them; the renderer applies them.
OverrideField = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ChannelOverrides = dict[OverrideField, Annotated[str, Field(min_length=1, max_length=2000)]]


class Relation(StrEnum):
    interprets = "interprets"  # this item interprets the referenced policy
    interpreted_by = "interpreted_by"  # derived on the policy's side; accepted on input too
    amends = "amends"  # the target stays in force in its amended form (its page lists the amending file)
    repeals = "repeals"  # the target becomes 废止 with this publication
    replaces = "replaces"  # the target becomes 失效 with this publication (superseded by this one)
    related = "related"


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        # No control characters (NUL above all) belong in a document; PostgreSQL would refuse them with a 500.
        # Runs on every field of every model (about 150 times per publication): the common cases first,
        # without building a list (an archive import validates 100,000 publications).
        if isinstance(value, str):
            if _CONTROL_CHARS.search(value):
                raise ValueError("control characters (such as NUL) are not allowed in text")
        elif isinstance(value, list) and any(isinstance(t, str) and _CONTROL_CHARS.search(t) for t in value):
            raise ValueError("control characters (such as NUL) are not allowed in text")
        return value


class IndexNo(Strict):
    """索引号 kept as its parts; `str()` gives the published form `code/year-seq`."""

    code: str
    year: int
    sequence: int
    width: int = 5  # zero-padding of the sequence as the publisher writes it

    def __str__(self) -> str:
        return f"{self.code}/{self.year}-{self.sequence:0{self.width}d}"

    @classmethod
    def parse(cls, text: str) -> IndexNo:
        match = cls.match(text)
        seq = match["seq"]
        return cls(code=match["code"], year=int(match["year"]), sequence=int(seq), width=len(seq))

    @staticmethod
    def match(text: str) -> re.Match[str]:
        """`text`'s parts (code, year, seq), checked as `parse` checks them, without building the model: what a
        regex match allows always makes a valid IndexNo, so validators that only check a 索引号 use this (the
        model took about 9 us, twice per publication validated: a fifth of a Publication's validation)."""
        match = INDEX_NO_RE.match(text)
        if not match:
            raise ValueError("索引号 must look like 1137010000418859XL/2024-00697 (publisher code/year-sequence)")
        return match


class Attachment(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    url: AnyHttpUrl
    media_type: str = "application/octet-stream"
    size: Annotated[int, Field(ge=0)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class RelatedRef(Strict):
    id: str | None = None
    index_no: str | None = None
    relation: Relation = Relation.related
    title: str | None = None  # filled in by the API when the reference resolves

    @model_validator(mode="after")
    def _one_reference(self) -> RelatedRef:
        if not self.id and not self.index_no:
            raise ValueError("a related entry needs `id` or `index_no`")
        return self


class Lapse(BaseModel):
    """Set by the pipeline on the version of a publication that a later one repealed, replaced or amended."""

    model_config = ConfigDict(extra="forbid")

    # The repealing / replacing publication and its portal page; all empty when it expired (有效期至 passed).
    by_id: str = ""
    by_title: str = ""
    by_doc_no: str = ""
    by_url: str = ""


class CoverImage(Strict):
    """A department's own cover (schemas.cover): base64 of a JPEG or PNG as sent; kept as WeChat's thumb JPEG."""

    data: Annotated[str, Field(min_length=1, max_length=1_500_000)]  # base64 of up to ~1.1 MB: the size check names it
    sha256: str = ""  # of the kept JPEG, set on submission (the audit trail names the cover by it)


class ReviewStage(StrEnum):
    first = "初审"
    second = "复审"
    final = "终审"


class ReviewStep(Strict):
    stage: ReviewStage
    reviewer: Annotated[str, Field(min_length=1, max_length=50)]
    at: dt.datetime

    _plausible_at = field_validator("at")(plausible_date)


class Targeting(Strict):
    """Who a policy push concerns (used by the push channel; empty = nobody specific)."""

    regions: list[str] = []
    industries: list[str] = []
    scales: list[str] = []
    qualifications: list[str] = []
    topics: list[str] = []
    credit_codes: list[str] = []


class PublicationFields(Strict):
    """Fields a department sends, shared by submit and revision."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    # The title where the official one does not fit: a WeChat article title (at most 64 characters, as the MP
    # editor and draft/add count them), the Weibo post's heading, SMS and WeChat template messages. Empty: derived.
    short_title: Annotated[str, Field(max_length=64)] = ""
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]
    summary: Annotated[str, Field(max_length=500)] = ""
    kind: Kind
    index_no: str | None = None
    category: Annotated[str, Field(min_length=1, max_length=50)]
    theme: Annotated[str, Field(min_length=1, max_length=60)]
    publisher: Annotated[str, Field(min_length=1, max_length=100)]
    publisher_code: str
    written_date: dt.date
    publish_date: dt.date | None = None
    doc_no: str = ""
    validity: Validity = Validity.valid
    keywords: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(default_factory=list, max_length=20)
    related: list[RelatedRef] = Field(default_factory=list, max_length=50)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    review: list[ReviewStep]
    channels: list[ChannelName] | None = None
    targeting: Targeting | None = None
    publish_at: dt.datetime | None = None
    # Public enterprises/institutions the item concerns (unified social credit codes): the
    # disclosure channel files one record per unit. Empty: the channel does not apply.
    units: list[str] = Field(default_factory=list, max_length=50)
    disclosure_matter: Annotated[str, Field(min_length=1, max_length=50)] | None = None  # 公开事项; default: category
    # Shown in the portal's header and 政策文件库 (all optional): 发文机关 (several for joint issuing; empty:
    # the publisher), 规范性文件 with its 登记编号, 实施日期, 有效期至, and what this version changed.
    issuers: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=10)
    normative: bool = False
    normative_no: Annotated[str, Field(max_length=60)] = ""
    effective_date: dt.date | None = None
    expiry_date: dt.date | None = None
    change_note: Annotated[str, Field(max_length=200)] = ""
    # The department's own cover for WeChat (thumb) and Weibo (picture); None: a generated cover on WeChat.
    cover: CoverImage | None = None
    # Copy an editor wrote for one channel, replacing what its renderer would show, e.g.
    # {"wechat": {"title": …, "digest": …}, "weibo": {"text": …}}; screened like every other text.
    channel_overrides: dict[ChannelName, ChannelOverrides] = Field(default_factory=dict, max_length=10)

    _plausible_dates = field_validator("written_date", "publish_date", "publish_at")(plausible_date)

    @field_validator("channel_overrides")
    @classmethod
    def _override_texts(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        # the "*" check of Strict looks at strings and lists, not into this dict of dicts
        if any(_CONTROL_CHARS.search(text) for texts in value.values() for text in texts.values()):
            raise ValueError("control characters (such as NUL) are not allowed in text")
        return value

    @field_validator("units")
    @classmethod
    def _units(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not credit_code_checksum_ok(code)]
        if bad:
            raise ValueError(f"units must be unified social credit codes with a valid GB 32100 check character: {', '.join(bad)}")
        return list(dict.fromkeys(value))

    @field_validator("publisher_code")
    @classmethod
    def _publisher_code(cls, value: str) -> str:
        if not PUBLISHER_CODE_RE.match(value):
            raise ValueError("publisher_code must be an 18-char unified social credit code or a 9-char organization code")
        return value

    @field_validator("index_no")
    @classmethod
    def _index_no(cls, value: str | None) -> str | None:
        if value:
            IndexNo.match(value)
        return value or None

    @field_validator("doc_no")
    @classmethod
    def _doc_no(cls, value: str) -> str:
        if value and not DOC_NO_RE.match(value):
            raise ValueError(
                "发文字号 must look like 鲁政办发〔2024〕2号: agency abbreviation, year in 〔〕, number without leading zeros, 号"
            )
        return value

    @field_validator("theme")
    @classmethod
    def _theme(cls, value: str) -> str:
        problem = theme_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("review")
    @classmethod
    def _review_chain(cls, steps: list[ReviewStep]) -> list[ReviewStep]:
        # 先审后发: the three human reviews must all be recorded before anything goes out.
        missing = [s.value for s in ReviewStage if s not in {step.stage for step in steps}]
        if missing:
            raise ValueError(f"review chain (三审) incomplete: missing {', '.join(missing)}")
        return steps

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("channels, when given, must name at least one channel")
        return list(dict.fromkeys(value)) if value else value

    @model_validator(mode="after")
    def _cross_field(self) -> PublicationFields:
        if self.index_no and not IndexNo.match(self.index_no)["code"].startswith(self.publisher_code):
            raise ValueError("索引号 must start with the publisher_code of the issuing organ")
        if self.publish_date and self.publish_date < self.written_date:
            raise ValueError("publish_date (发布日期) cannot be before written_date (成文日期)")
        if self.publish_at is not None and self.publish_at.tzinfo is None:
            raise ValueError("publish_at needs a timezone, e.g. 2025-01-02T09:00:00+08:00")
        if self.normative_no and not self.normative:
            raise ValueError("normative_no (规范性文件登记编号) is given only for a 规范性文件 (normative: true)")
        if self.effective_date and self.expiry_date and self.expiry_date < self.effective_date:
            raise ValueError("expiry_date (有效期至) cannot be before effective_date (实施日期)")
        if self.kind is Kind.interpretation and not any(r.relation is Relation.interprets for r in self.related):
            raise ValueError('an interpretation needs a related entry with relation "interprets" naming its policy')
        return self


class PublicationIn(PublicationFields):
    """POST /v1/publications and PUT /v1/publications/{id} body."""

    @field_validator("cover")
    @classmethod
    def _cover(cls, value: CoverImage | None) -> CoverImage | None:
        """Checked (format, bytes, pixels, ratio) and kept as the platforms take it (schemas.cover)."""
        if value is None:
            return None
        data, digest = normalized_cover(value.data)
        return CoverImage(data=data, sha256=digest)


class RetractIn(Strict):
    reason: Annotated[str, Field(min_length=2, max_length=500)]


class Publication(PublicationFields):
    """The normalized record: body sanitized, index number allocated, identity added."""

    model_config = ConfigDict(extra="forbid")

    id: str
    version: Annotated[int, Field(ge=1)]
    department: str  # the authenticated department (its publisher code)
    index: IndexNo
    body_html: str  # sanitized HTML, safe to embed
    body_text: str  # plain text for channels without HTML and for screening
    submitted_at: dt.datetime
    retracted: bool = False
    retract_reason: str | None = None
    # Set by the pipeline when a later publication repealed, replaced or amended this one (producers.lifecycle):
    # the push channel tells the businesses that received it, with this link.
    lapsed_by: Lapse | None = None

    @property
    def index_no_text(self) -> str:
        return str(self.index)


class DeliveryView(BaseModel):
    status: str
    version: int
    url: str | None = None
    detail: str | None = None
    updated_at: dt.datetime


class TimelineEntry(BaseModel):
    at: dt.datetime
    channel: str | None
    status: str
    version: int
    detail: str | None = None
    actor: str | None = None  # who did it when a person did (operator or department); None: the pipeline


class CampaignView(BaseModel):
    """Policy push of the current version: businesses per state, and portal-link clicks (a count only)."""

    version: int
    matched: int
    queued: int
    deferred: int
    sent: int  # accepted by the platform, awaiting its receipt (SMS, WeChat template)
    delivered: int
    failed: int
    skipped: int
    unsubscribed: int
    clicked: int


class PublicationOut(PublicationFields):
    """GET /v1/publications/{id}: the flat publication fields plus identity and where every copy stands."""

    model_config = ConfigDict(extra="forbid")

    id: str
    version: int
    department: str
    index_no: str  # always present in answers (allocated when absent)
    status: str
    submitted_at: dt.datetime
    retracted: bool = False
    retract_reason: str | None = None
    deliveries: dict[str, DeliveryView]
    campaign: CampaignView | None = None  # present when the publication is pushed to businesses
    timeline: list[TimelineEntry]
    links: dict[str, str]
    # What machine screening (先审后发) finds in the current version, masked, with where it is.
    findings: list[Finding] = []


class Accepted(BaseModel):
    """202 answer of submit, revise and retract."""

    id: str
    version: int
    status: str
    index_no: str
    links: dict[str, str]
