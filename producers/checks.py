"""A submission's checks against this server's configuration: its channels, their own rules, the channel overrides,
the 组配分类. They read nothing stored, so a submission that relates to nothing is checked by the group-commit writer
before the batch's transaction begins (producers.publishing, `Ahead`)."""

from __future__ import annotations

from adapters import channels as channels_registry
from adapters.overrides import override_problems
from producers.errors import FieldError
from schemas.publication import PublicationIn
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

