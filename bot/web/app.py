"""The one aiohttp application: Rasa-compatible endpoints and the lead API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.assembly import Assistant, Brain, open_assistant
from bot.config import Settings
from bot.storage.retention import purge_idle
from bot.web import leads_api, openapi, rasa_api
from bot.web.errors import error_middleware
from bot.web.keys import assistant_key, limiter_key, settings_key
from bot.web.limits import RateLimiter

logger = logging.getLogger(__name__)


def setup_routes(app: web.Application) -> None:
    """The single route table."""
    app.router.add_get("/healthz", rasa_api.healthz)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_post("/model/parse", rasa_api.model_parse)
    app.router.add_post("/webhooks/rest/webhook", rasa_api.rest_webhook)
    app.router.add_get("/api/v1/leads", leads_api.list_leads)
    app.router.add_get("/api/v1/leads/{id}", leads_api.get_lead)
    app.router.add_post("/api/v1/leads/{id}/claim", leads_api.claim)
    app.router.add_post("/api/v1/leads/{id}/release", leads_api.release)
    app.router.add_post("/api/v1/leads/{id}/status", leads_api.set_status)
    app.router.add_post("/api/v1/leads/{id}/notes", leads_api.add_note)


RETENTION_RUN_SECONDS = 3600


async def retention_job(app: web.Application) -> AsyncIterator[None]:
    """Delete idle conversations every hour, not only when a resident writes again."""
    settings = app[settings_key]
    assistant = app[assistant_key]

    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            try:
                await purge_idle(
                    assistant.db, assistant.sessions, timedelta(days=settings.retention_days)
                )
            except Exception:
                # The next run tries again; a failing purge must not stop the server.
                logger.exception("Deleting idle conversations failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETENTION_RUN_SECONDS)

    task = asyncio.create_task(run())
    yield
    # Let a purge in progress finish: cancelling it mid-transaction would strand its
    # database connection.
    stop.set()
    await task


async def create_app(
    settings: Settings,
    brain: Brain | None = None,
    assistant: Assistant | None = None,
    background_jobs: bool = False,
) -> web.Application:
    """Build the app; the assistant is loaded before the first request is accepted.

    ``background_jobs``: also run the scheduled jobs (the retention purge), as a server
    process does; embedding and testing code leaves them off.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=256 * 1024)
    app[settings_key] = settings
    app[limiter_key] = RateLimiter()
    app[assistant_key] = assistant or await open_assistant(settings, brain)
    owns_assistant = assistant is None

    async def close_assistant(app: web.Application) -> AsyncIterator[None]:
        yield
        if owns_assistant:
            await app[assistant_key].close()

    app.cleanup_ctx.append(close_assistant)
    if background_jobs:
        app.cleanup_ctx.append(retention_job)
    setup_routes(app)
    return app
