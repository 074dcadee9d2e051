"""The subscription center (/subscribe): businesses sign up, confirm, manage their push subscription, read what
they were sent and which policies apply to them. Server-rendered pages in the portal's look."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI, offered: bool) -> None:
    """`offered`: policy push is a configured channel; otherwise every page says plainly that it is not."""
    from producers.subscribe import manage, pages, unoffered

    if not offered:
        app.include_router(unoffered.router)
        return
    app.include_router(pages.router)
    app.include_router(manage.router)
