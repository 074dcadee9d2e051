"""The part of a submission that needs no database, done in the request's own path before it queues for the store.

A submission's checks against configuration (channels, 组配分类, channel overrides) and its normalizing (sanitizing
the body, building the record) read nothing stored. On SQLite the group-commit writer holds the file's write lock
from BEGIN IMMEDIATE to the commit, and every writer of the file -- the other API processes' too -- waits for it:
work done in there is work no other process can overlap. So a submission that relates to nothing (its related
references are resolved against stored publications, and its record carries what they resolve to) is checked and
normalized here, by the caller, before the writer's batch begins; what decides against stored state stays in the
transaction (the Idempotency-Key's replay, a sent 索引号 being free, the 索引号 allocation, the writes).

A check that fails here is not raised here: it is kept and raised by the submission's step in the transaction, so a
request is answered in the order it always was (a revoked token's request is refused before its body is judged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters import channels as channels_registry
from adapters.overrides import override_problems
from producers.errors import FieldError
from schemas.publication import IndexNo, Publication, PublicationIn
from settings import Settings


def configured_channels(settings: Settings, data: PublicationIn) -> tuple[list[str], list[FieldError]]:
    """The effective channels of `data` and what is wrong with it against this server's configuration."""
    errors: list[FieldError] = []
    configured = settings.channels
    if data.channels is None:
        channels = [c for c in configured if channels_registry.spec_of(c).applies(data)]
        if not channels:
            errors.append(FieldError("body.channels", "no channel is configured on this server; name the channels"))
    else:
        channels = list(data.channels)
        errors += [
            FieldError(f"body.channels.{i}", f"channel {c!r} is not configured here; configured: {', '.join(configured)}")
            for i, c in enumerate(channels)
            if c not in configured
        ]
    for channel in channels:
        if channel in configured and (check := channels_registry.spec_of(channel).check) is not None:
            errors += [FieldError(path, message) for path, message in check(data, settings)]
    errors += [FieldError(path, message) for path, message in
               override_problems(data, channels, channels_registry.spec_of, channels_registry.names())]
    if data.category not in settings.categories:
        errors.append(FieldError(
            "body.category", f"unknown 组配分类 {data.category!r}; expected one of {', '.join(settings.categories)}"
        ))
    return channels, errors


@dataclass(frozen=True)
class Ahead:
    """A submission checked and normalized before its transaction: the channels and the record (its index a
    stand-in or the 索引号 the department sent), or what was wrong, to be raised in the transaction."""

    channels: list[str]
    draft: Publication | None
    error: Exception | None

    def record(self) -> Publication:
        """A copy of the record for one run of the transaction (a retried run must not see what an earlier one
        put in: producers.numbering numbers its record in place); raises what the checks found."""
        if self.error is not None:
            raise self.error
        assert self.draft is not None
        return self.draft.model_copy()


def ahead(index: Callable[[], IndexNo], checks: Callable[[], list[str]],
          build: Callable[[list[str], IndexNo], Publication]) -> Ahead:
    """Run `checks` (the effective channels; raises what is wrong) and `build` (the record, with the index `index()`
    gives) now, keeping any error."""
    try:
        channels = checks()
        return Ahead(channels, build(channels, index()), None)
    except Exception as exc:  # raised by the transaction's step, in the order the request was always answered
        return Ahead([], None, exc)

