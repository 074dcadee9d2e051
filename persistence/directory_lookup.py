"""Operators' look-ups in the push directory (the console's subscriber page): find businesses by name or unified
social credit code, and read one business's recent pushes from the push ledger (push_recipients)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select

from persistence.push_recipients import recipients
from persistence.subscribers import subscribers
from persistence.tables import publications
from schemas.subscriber import Subscriber

SCAN_LIMIT = 5000  # candidate rows read per search at most: a word in thousands of names needs a narrower query


@dataclass(frozen=True)
class Found:
    items: list[Subscriber]
    more: bool  # more businesses match than shown (or than one search reads): narrow the query


def find_subscribers(engine: Engine, text: str, limit: int = 50) -> Found:
    """Businesses whose credit code starts with `text` (case-insensitive) or whose name contains it, by credit code.

    The name lives only in the stored JSON, so SQL narrows to documents containing the text and Python keeps those
    where it is in the name (not, say, in an email address); empty `text` lists the directory from the start.
    """
    text = text.strip()
    query = select(subscribers.c.doc).order_by(subscribers.c.credit_code)
    if text:
        query = query.where(or_(subscribers.c.credit_code.startswith(text.upper(), autoescape=True),
                                subscribers.c.doc.contains(text, autoescape=True)))
    items: list[Subscriber] = []
    with engine.connect() as conn:
        docs = conn.execute(query.limit(SCAN_LIMIT if text else limit + 1)).scalars().all()
    for doc in docs:
        sub = Subscriber.model_validate_json(doc)
        if not text or sub.credit_code.startswith(text.upper()) or text.casefold() in sub.name.casefold():
            if len(items) == limit:
                return Found(items, more=True)
            items.append(sub)
    return Found(items, more=len(docs) == SCAN_LIMIT)  # candidates left unread may match too


@dataclass(frozen=True)
class Push:
    publication_id: str
    title: str  # "" when the publication is gone
    version: int
    channel: str | None  # the push channel that carried (or last tried) it
    status: str  # push_recipients state: queued, deferred, sent, delivered, failed, skipped, unsubscribed
    detail: str | None
    at: dt.datetime


def recent_pushes(engine: Engine, credit_code: str, limit: int = 20) -> list[Push]:
    """The latest push-ledger rows of one business, newest first, each with its publication's title."""
    query = (select(recipients.c.publication_id, recipients.c.version, recipients.c.channel, recipients.c.status,
                    recipients.c.detail, recipients.c.updated_at, publications.c.title)
             .join(publications, publications.c.id == recipients.c.publication_id, isouter=True)
             .where(recipients.c.credit_code == credit_code)
             .order_by(recipients.c.updated_at.desc()).limit(limit))
    with engine.connect() as conn:
        return [Push(r.publication_id, r.title or "", r.version, r.channel, r.status, r.detail, r.updated_at)
                for r in conn.execute(query)]
