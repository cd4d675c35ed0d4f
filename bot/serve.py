"""``zhaoren serve``: the web server, until interrupted."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.config import Settings
from bot.web.app import create_app
from bot.web.errors import JsonErrorAppRunner

logger = logging.getLogger(__name__)


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the server until Ctrl-C."""
    app = await create_app(settings, background_jobs=True)
    runner = JsonErrorAppRunner(app, access_log=None)  # unparsable requests get JSON too
    await runner.setup()
    site = web.TCPSite(runner, host or settings.host, port or settings.port)
    await site.start()
    logger.info("zhaoren listening on http://%s:%s", host or settings.host, port or settings.port)
    if settings.redis_url:
        logger.warning(
            "ZHAOREN_REDIS_URL is set, but sharing conversations between several server "
            "processes is not built yet: run one process per database"
        )
    if settings.telegram_token:
        logger.warning("ZHAOREN_TELEGRAM_TOKEN is set but the Telegram channel is not built yet")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        # Stop cleanly: close connections and the database pool, no traceback.
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await stop.wait()
        logger.info("zhaoren stopping")
    finally:
        await runner.cleanup()
