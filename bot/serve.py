"""``zhaoren serve``: the web server, until interrupted; ``--workers N``: N of them on one port.

With several workers a parent process trains (or loads) the NLU model into the cache and
migrates the database once, then starts N worker processes. Each worker loads the cached
model and listens on the same port with ``SO_REUSEPORT``: the kernel spreads connections
over them. The parent restarts a worker that dies and, on SIGTERM or SIGINT, asks every
worker to stop: each stops accepting, finishes the requests in flight, then exits.
Conversations are shared through the database and a lock every worker sees
(``bot/storage/locks.py``), so any worker may answer any message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web

from bot.config import Settings
from bot.logs import configure_logging
from bot.web.app import create_app
from bot.web.errors import JsonErrorAppRunner

logger = logging.getLogger(__name__)

# How long a stopping server waits for requests in flight. A turn takes well under a
# second; one waiting for its conversation's lock gives up after 15 s (locks.WAIT_SECONDS).
SHUTDOWN_SECONDS = 30.0
# The parent kills a worker that has not exited this long after being asked to stop.
KILL_AFTER_SECONDS = SHUTDOWN_SECONDS + 15.0
# A worker that dies sooner than this after starting is restarted after a growing pause
# (1, 2, 4 … 30 s), so that one that cannot start does not spin the machine.
HEALTHY_AFTER_SECONDS = 10.0
MAX_RESTART_PAUSE = 30.0
PARENT_CHECK_SECONDS = 1.0


class WorkersRefused(ValueError):
    """``--workers N`` cannot run with these settings (the message says why)."""


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a worker count the settings cannot support, with the reason."""
    if workers < 1:
        raise WorkersRefused(f"--workers must be at least 1, not {workers}")
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise WorkersRefused(
            f"--workers {workers} needs PostgreSQL: a SQLite database is one file written "
            "by one process, so conversations cannot be shared between workers. Set "
            "ZHAOREN_DATABASE_URL=postgresql+asyncpg://… (and optionally ZHAOREN_REDIS_URL), "
            "or run one process"
        )


async def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    reuse_port: bool = False,
    parent_pid: int | None = None,
) -> None:
    """Run the server until SIGINT or SIGTERM, then finish the requests in flight.

    ``reuse_port``: share the port with the other workers (``SO_REUSEPORT``).
    ``parent_pid``: stop as well when that process (the supervisor) is gone.
    """
    host = host or settings.host
    port = port or settings.port
    app = await create_app(settings, background_jobs=True)
    # Unparsable requests get JSON errors too (JsonErrorAppRunner).
    runner = JsonErrorAppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    logger.info("zhaoren listening on http://%s:%s (pid %s)", host, port, os.getpid())
    if settings.redis_url:
        logger.info("conversation locks in Redis (%s…)", settings.redis_prefix)
    elif not settings.database_url.startswith("sqlite"):
        logger.info("conversation locks: PostgreSQL advisory locks")
    if settings.telegram_token:
        logger.warning("ZHAOREN_TELEGRAM_TOKEN is set but the Telegram channel is not built yet")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        # Stop cleanly: close connections and the database pool, no traceback.
        loop.add_signal_handler(signal_number, stop.set)
    watch = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    try:
        await stop.wait()
        logger.info("zhaoren stopping (pid %s): finishing requests in flight", os.getpid())
    finally:
        if watch is not None:
            watch.cancel()
        # Closes the listening socket first, waits up to SHUTDOWN_SECONDS for the handlers
        # in flight, then closes the assistant (database pools, locks).
        await runner.cleanup()
        logger.info("zhaoren stopped (pid %s)", os.getpid())


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """A worker whose supervisor was killed (``kill -9``) must not run on unsupervised."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    logger.warning("the supervisor (pid %s) is gone; stopping", parent_pid)
    stop.set()


def _worker_main(settings: Settings, host: str, port: int, parent_pid: int) -> None:
    """A worker process: the ordinary server, sharing the port."""
    configure_logging()
    asyncio.run(serve(settings, host, port, reuse_port=True, parent_pid=parent_pid))


@dataclass
class _Slot:
    """One worker position: its current process and its restart history."""

    number: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float = 0.0


def serve_workers(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    """Supervise ``workers`` server processes on one port until SIGTERM/SIGINT; exit status."""
    check_workers(settings, workers)
    host = host or settings.host
    port = port or settings.port
    _prepare(settings)
    # spawn, not fork: a worker starts from a clean interpreter (no inherited threads,
    # event loop or pooled connections) and loads the model the parent left in the cache.
    context = multiprocessing.get_context("spawn")
    parent_pid = os.getpid()
    slots = [_Slot(n) for n in range(workers)]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    previous_wakeup = signal.set_wakeup_fd(wake_write.fileno())
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def start(slot: _Slot) -> None:
        process = context.Process(
            target=_worker_main,
            args=(settings, host, port, parent_pid),
            name=f"zhaoren-worker-{slot.number}",
        )
        process.start()
        slot.process, slot.started_at = process, time.monotonic()
        logger.info("worker %s started (pid %s)", slot.number, process.pid)

    try:
        for slot in slots:
            start(slot)
        logger.info("zhaoren: %s workers on http://%s:%s", workers, host, port)
        while not stopping:
            now = time.monotonic()
            waiting = [s for s in slots if s.process is None]
            timeout = min((s.restart_at - now for s in waiting), default=None)
            sentinels: list[object] = [s.process.sentinel for s in slots if s.process]
            multiprocessing.connection.wait(
                [*sentinels, wake_read],  # type: ignore[list-item]
                timeout=None if timeout is None else max(0.0, timeout),
            )
            with contextlib.suppress(BlockingIOError):
                wake_read.recv(512)
            if stopping:
                break
            now = time.monotonic()
            for slot in slots:
                if slot.process is not None and not slot.process.is_alive():
                    code = slot.process.exitcode
                    lived = now - slot.started_at
                    slot.process.close()
                    slot.process = None
                    slot.quick_deaths = (
                        slot.quick_deaths + 1 if lived < HEALTHY_AFTER_SECONDS else 0
                    )
                    pause = (
                        min(MAX_RESTART_PAUSE, 2.0 ** (slot.quick_deaths - 1))
                        if slot.quick_deaths
                        else 0.0
                    )
                    slot.restart_at = now + pause
                    logger.error(
                        "worker %s (exit code %s) died after %.0fs; restarting in %.0fs",
                        slot.number,
                        code,
                        lived,
                        pause,
                    )
                if slot.process is None and slot.restart_at <= now:
                    start(slot)
        logger.info("zhaoren stopping %s workers: finishing requests in flight", workers)
        status = _stop_all(slots)
        logger.info("zhaoren: all workers stopped")
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_wakeup)
        wake_read.close()
        wake_write.close()


def _prepare(settings: Settings) -> None:
    """Train or load the NLU into the cache and migrate, once, before any worker starts."""
    from bot.assembly import load_brain
    from bot.storage.db import create_engine, migrate
    from bot.storage.locks import migrate_alone

    brain = load_brain(settings)
    logger.info(
        "NLU model %s in %s; the workers load it from there",
        "trained and cached" if brain.report.trained else "already cached",
        settings.cache_dir,
    )
    del brain  # the parent only supervises: it need not keep the model in memory

    async def migrate_once() -> None:
        db = create_engine(settings.database_url)
        try:
            await migrate_alone(db, migrate)
        finally:
            await db.dispose()

    asyncio.run(migrate_once())


def _stop_all(slots: list[_Slot]) -> int:
    """Ask every worker to stop (SIGTERM), wait for them, kill the ones that hang."""
    running = [s.process for s in slots if s.process is not None and s.process.is_alive()]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + KILL_AFTER_SECONDS
    status = 0
    for process in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            logger.error("worker pid %s did not stop in time; killing it", process.pid)
            process.kill()
            process.join()
            status = 1
        elif process.exitcode not in (0, -signal.SIGTERM):
            status = 1
    return status
