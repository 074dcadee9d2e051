"""Normalize a submission into the record every channel works from.

Bodies arrive as HTML or plain text. HTML is cleaned with nh3 (Ammonia): an
allow-list of tags and attributes, only http/https/mailto links, so scripts,
event handlers and `javascript:` URLs never reach any channel.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import nh3

from schemas.publication import IndexNo, Publication, PublicationFields

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
    return Publication.model_validate(data)


_CST = dt.timezone(dt.timedelta(hours=8), "CST")  # dates on Chinese government pages are Beijing time
