"""Per-channel overrides: copy an editor wrote for one channel in place of a rendered field.

A publication's `channel_overrides` ({"wechat": {"title": …}, "weibo": {"text": …}}) may set only the
fields a channel declares (ChannelSpec.overrides), each checked the way that channel's platform
counts (a WeChat title ≤ 64 characters, a Weibo text that still fits 140 with the portal link …)
when the department submits it: a 422 names `body.channel_overrides.<channel>.<field>`. Each
renderer applies them after rendering (`overridden`). Screening reads them like every other text
(processors.screen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.spec import ChannelSpec
from schemas.publication import Publication, PublicationFields


def override_problems(fields: PublicationFields, channels: list[str], spec_of: Callable[[str], ChannelSpec],
                      known: list[str]) -> list[tuple[str, str]]:
    """(field path, message) for every override the API must refuse, all at once."""
    problems: list[tuple[str, str]] = []
    for channel, values in fields.channel_overrides.items():
        path = f"body.channel_overrides.{channel}"
        if channel not in known:
            problems.append((path, f"no channel {channel!r} here; known: {', '.join(known)}"))
            continue
        if channel not in channels:
            problems.append((path, f"the publication does not go to {channel} (channels: {', '.join(channels)})"))
            continue
        allowed = spec_of(channel).overrides
        for name, text in values.items():
            if name not in allowed:
                can = ", ".join(allowed) if allowed else "nothing"
                problems.append((f"{path}.{name}", f"{channel} has no field {name!r} to override; it takes: {can}"))
            elif (why := allowed[name](text)) is not None:
                problems.append((f"{path}.{name}", why))
    return problems


def overridden(rendition: dict[str, Any], pub: Publication, channel: str,
               apply: Mapping[str, Callable[[str], Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    """The rendition with the publication's overrides for `channel` in place.

    By default an override replaces the field of the same name; `apply` maps a field to what it changes
    instead (Weibo's `text` becomes the post with the portal link appended).
    """
    values = pub.channel_overrides.get(channel) or {}
    if not values:
        return rendition
    out = dict(rendition)
    for name, text in values.items():
        out.update(apply[name](text) if apply and name in apply else {name: text})
    out["overridden"] = sorted(values)
    return out
