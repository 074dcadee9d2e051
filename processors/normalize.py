"""Normalize a submission into the record every channel works from.

Bodies arrive as HTML or plain text. HTML is cleaned with nh3 (Ammonia): an
allow-list of tags and attributes, only http/https/mailto links, so scripts,
event handlers and `javascript:` URLs never reach any channel.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import nh3

from schemas.publication import (
    _CONTROL_CHARS,
    CHANNEL_NAME_RE,
    IndexNo,
    Publication,
    PublicationFields,
    PublicationIn,
    plausible_date,
)

_ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s", "sub", "sup",
    "blockquote", "pre", "code", "ul", "ol", "li", "dl", "dt", "dd", "a", "img", "figure", "figcaption",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "span", "div",
}
_ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}
_LOOKS_LIKE_HTML = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*|/[a-zA-Z]|!--)")
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(?:p|div|h[2-6]|li|tr|blockquote|pre)>|<br\s*/?>", re.I)


def sanitize_html(body: str) -> str:
    return nh3.clean(
        body,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\r?\n", text) if p.strip()]
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def html_to_text(fragment: str) -> str:
    text = _TAG.sub("", _BLOCK_END.sub("\n", fragment))
    lines = (html.unescape(line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def body_forms(body: str) -> tuple[str, str]:
    """(safe HTML, plain text) of a body given as HTML or as plain text."""
    safe = sanitize_html(body) if _LOOKS_LIKE_HTML.search(body) else text_to_html(body)
    return safe, html_to_text(safe)


def normalize(
    fields: PublicationFields,
    *,
    publication_id: str,
    version: int,
    department: str,
    index: IndexNo,
    submitted_at: dt.datetime,
) -> Publication:
    body_html, body_text = body_forms(fields.body)
    # The fields as they are (not a dump): nested models (review steps, attachments, related, cover) were validated
    # when `fields` was, and pydantic takes instances of their classes as they are; the record's own fields and
    # its cross-field rules (e.g. the derived 发布日期 not before 成文日期) are still checked below.
    data = dict(fields)
    data.update(
        id=publication_id,
        version=version,
        department=department,
        index=index,
        index_no=str(index),
        body_html=body_html,
        body_text=body_text,
        submitted_at=submitted_at,
        publish_date=fields.publish_date or (fields.publish_at or submitted_at).astimezone(_CST).date(),
    )
    return _built(fields, data) or Publication.model_validate(data)


_RECHECKED = ("id", "department", "index_no", "body_html", "body_text")  # the strings normalize adds


def _built(fields: PublicationFields, data: dict[str, Any]) -> Publication | None:
    """The record built from `data` without validating again what `fields` (a validated instance) already passed --
    about 30 µs of a submission's CPU: only what normalize added or replaced is checked here (its strings, the
    channels, 发布日期 and the record's cross-field rules). None when any of it would not pass as it is (a string
    to strip, a bad date, …): the caller then validates `data` in full, raising exactly what validation raises.
    The result equals `Publication.model_validate(data)` (tests/processors/test_normalize.py)."""
    if type(fields) not in _VALIDATED or not isinstance(data["index"], IndexNo) or type(data["version"]) is not int \
            or data["version"] < 1 or type(data["submitted_at"]) is not dt.datetime:
        return None
    for name in _RECHECKED:
        text = data[name]
        if type(text) is not str or text != text.strip() or _CONTROL_CHARS.search(text):
            return None
    channels = data["channels"]
    if channels is not None and (not channels or len(set(channels)) != len(channels)
                                 or not all(type(c) is str and CHANNEL_NAME_RE.fullmatch(c) for c in channels)):
        return None
    try:
        IndexNo.match(data["index_no"])
        plausible_date(data["publish_date"])
    except ValueError:
        return None
    # lists and dicts copied, as validation copies them: the record shares no container with `fields`
    for name, value in data.items():
        if type(value) is list:
            data[name] = list(value)
    data["channel_overrides"] = {channel: dict(texts) for channel, texts in data["channel_overrides"].items()}
    pub = _constructed(data)
    try:
        pub._cross_field()  # type: ignore[operator]  # the model validator, run as validation runs it
    except ValueError:
        return None
    return pub


_VALIDATED = frozenset({PublicationFields, PublicationIn})  # instances of these were validated when made
_FIELDS = tuple(Publication.model_fields.items())


def _constructed(data: dict[str, Any]) -> Publication:
    """`Publication.model_construct(**data)` for `data` of field names only (a third of its time: no aliases to
    look for), fields in their declared order, the ones `data` leaves out at their defaults."""
    values = {name: data[name] if name in data else field.get_default(call_default_factory=True) for name, field in _FIELDS}
    pub = Publication.__new__(Publication)
    object.__setattr__(pub, "__dict__", values)
    object.__setattr__(pub, "__pydantic_fields_set__", set(data))
    object.__setattr__(pub, "__pydantic_extra__", None)
    object.__setattr__(pub, "__pydantic_private__", None)
    return pub


_CST = dt.timezone(dt.timedelta(hours=8), "CST")  # dates on Chinese government pages are Beijing time
