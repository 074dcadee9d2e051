"""The app's push directory: one SubscriberStore on the status store's engine, made on first use and kept on the
app. The API, the console and the subscription center all reach it here, so none of them imports another for it."""

from __future__ import annotations

from fastapi import Request

from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from processors.directory_hook import change_hook


def directory(request: Request, store: StatusStore) -> SubscriberStore:
    """One SubscriberStore per app (Kafka mode: with the change hook that writes the directory topic)."""
    subs: SubscriberStore | None = getattr(request.app.state, "subscribers", None)
    if subs is None:
        hook = change_hook(request.app.state.settings, request.app.state.bus)
        subs = request.app.state.subscribers = SubscriberStore(store.engine, on_change=hook)
    return subs
