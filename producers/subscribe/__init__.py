"""The subscription center (/subscribe): businesses sign up, confirm, manage their push subscription, read what
they were sent and which policies apply to them. Server-rendered pages in the portal's look."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from producers.subscribe import manage, pages

    app.include_router(pages.router)
    app.include_router(manage.router)
