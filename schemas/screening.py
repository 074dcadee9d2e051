"""What machine screening (先审后发) found in a publication, as the pipeline, the API and the console see it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    """What a finding does to the publication (processors.stages.plan, the approve endpoint)."""

    block = "block"  # held; an operator cannot approve it: the department must revise (or retract) it
    hold = "hold"  # held until an operator who checked it approves it (or the department revises it)
    warn = "warn"  # goes out; noted in the timeline for operators


class Finding(BaseModel):
    """One thing screening found, never repeating the personal data it is about."""

    model_config = ConfigDict(frozen=True)

    rule: str  # stable id: classification-mark, internal-wording, secrecy-term, id-number, mobile-number, bank-card
    severity: Severity
    label: str  # what it is, for people (Chinese with the English term)
    field: str  # where: title, summary, body, body a[href], body img[alt], attachments[0].url, related[1].title, …
    excerpt: str  # the surrounding text as a reader sees it, personal data masked
    masked: str = ""  # the masked form to publish instead (138****1234, 35*************123); "" for marks and wording
    start: int  # offsets of the finding in the stored value of `field`; for body fields, in the sanitized body HTML
    end: int

    def __str__(self) -> str:
        return f"{self.label} in {self.field}: {self.excerpt}"
