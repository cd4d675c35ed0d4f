"""Part 6: messages per second with 1, 2 and 3 server processes sharing one PostgreSQL.

Three ``zhaoren serve`` processes are started on the same database (once with PostgreSQL
advisory locks, once with ``ZHAOREN_REDIS_URL``); the client then sends self-report
messages back to back for a few seconds to the first 1, 2 and 3 of them, each message to
a process chosen at random — a resident's next message rarely lands where the last one
did, so every turn reads its state from the database under the shared lock. Processes
not in use sit idle. ``zhaoren serve --workers N`` runs the same workers behind one port.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench import client
from bench.common import Context
from bench.intake_bench import script
from bench.report import Figure, percentile
from bench.server import Server

PART = "multiproc"
PROCESSES = (1, 2, 3)
SENDERS = 60  # residents typing at once, back to back
SECONDS = 5.0  # measured per process count
REDIS_URL = os.environ.get("ZHAOREN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class _Server(Server):
    """The bench's server with extra settings (the Redis lock)."""

    def __init__(self, home: Path, url: str, cache_dir: Path, extra: dict[str, str]):
        super().__init__(home, url, cache_dir)
        self.extra = extra

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(self.extra)
        return env


async def _measure(urls: list[str], label: str) -> tuple[int, int, float, list[float]]:
    """(messages answered, errors, seconds, latencies in ms) for SECONDS of load."""
    answered = 0
    errors = 0
    latencies: list[float] = []
    stop_at = time.perf_counter() + SECONDS
    pick = random.Random(label)

    async def sender(number: int) -> None:
        nonlocal answered, errors
        round_ = 0
        while time.perf_counter() < stop_at:
            name = f"mp-{label}-{number}-{round_}"
            for message in script(number * 1000 + round_):
                if time.perf_counter() >= stop_at:
                    return
                outcome = await client.send(session, pick.choice(urls), name, message)
                if outcome.error is None:
                    answered += 1
                    latencies.append(outcome.seconds * 1000)
                else:
                    errors += 1
            round_ += 1

    async with client.session(SENDERS) as session:
        for url in urls:  # warm each process's connections and caches first
            await client.send(session, url, f"mp-{label}-warmup", "你好")
        started = time.perf_counter()
        await asyncio.gather(*(sender(n) for n in range(SENDERS)))
        wall = time.perf_counter() - started
    return answered, errors, wall, latencies


def run(ctx: Context) -> None:
    ctx.brain()  # the model cache is warm: the servers load, not train
    if not ctx.pg.reachable():
        ctx.report.info(PART, f"PostgreSQL not reachable at {ctx.pg.where()}; skipped")
        return
    from bench.common import port_open

    _run_with(ctx, "pg", {})
    if port_open("127.0.0.1", 6379):
        prefix = f"zhaoren-bench-{os.getpid()}-{secrets.token_hex(3)}:"
        try:
            _run_with(
                ctx, "pg+redis", {"ZHAOREN_REDIS_URL": REDIS_URL, "ZHAOREN_REDIS_PREFIX": prefix}
            )
        finally:
            _delete_keys(prefix)
    else:
        ctx.report.info(PART, "Redis not reachable at 127.0.0.1:6379; the Redis lock skipped")


def _run_with(ctx: Context, label: str, extra: dict[str, str]) -> None:
    report = ctx.report
    asyncio.run(ctx.pg.reset())
    servers = [
        _Server(ctx.workdir(f"multiproc-{label}-{n}"), ctx.pg.url, ctx.cache_dir, extra)
        for n in range(max(PROCESSES))
    ]
    with ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
        # The first one migrates the empty database; the others then start together.
        servers[0].start()
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(Server.start, servers[1:]))
        report.info(
            PART,
            f"{label}: {len(servers)} servers up on {ctx.pg.where()} "
            f"(start-up {', '.join(f'{s.startup_seconds:.1f}s' for s in servers)})",
        )
        base = 0.0
        for count in PROCESSES:
            urls = [s.base_url for s in servers[:count]]
            answered, errors, wall, ms = asyncio.run(_measure(urls, f"{label}-{count}"))
            rate = answered / wall
            base = base or rate
            name = f"{label} {count} process{'es' if count > 1 else ''}"
            report.add(Figure(PART, f"{name} throughput", rate, "msg/s", digits=1))
            report.info(
                PART,
                f"{name}: {answered} messages in {wall:.1f}s, {errors} errors, "
                f"p50 {percentile(ms, 50):.0f} ms, p99 {percentile(ms, 99):.0f} ms "
                f"(queueing: {SENDERS} senders back to back), x{rate / base:.2f} of one process",
            )
        for server in servers:
            if "Traceback" in server.log_text():
                report.error(PART, f"{label}: a server logged a traceback: {server.log_path}")


def _delete_keys(prefix: str) -> None:
    from redis import Redis

    with Redis.from_url(REDIS_URL) as redis:
        for key in redis.scan_iter(match=f"{prefix}*"):
            redis.delete(key)
