"""Per-conversation locks shared by every server process (the engine's ``ConversationLocks``).

The idea is Rasa's lock store (``rasa/core/lock_store.py``): a turn holds its conversation,
against every process on the same database, from before its state is read until after the
new state is committed. Which lock is used follows from the settings:

- ``ZHAOREN_REDIS_URL`` set: ``RedisLocks``, redis-py's ``Lock`` (a key set with ``NX`` and
  an expiry, released only by the token that set it);
- PostgreSQL without Redis: ``PostgresLocks``, a transaction-level advisory lock on a hash of
  the conversation key, held on a connection of a small pool of its own;
- SQLite: none. A single-file database is written by one process, so the engine's own
  ``asyncio.Lock`` is enough (``zhaoren serve --workers`` refuses SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

logger = logging.getLogger(__name__)

# How long a message waits for its conversation before it gives up (both backends). Longer
# than REDIS_LOCK_SECONDS, so that a message queued behind a killed process's lock still
# gets through once that lock expires; shorter than a reverse proxy's usual 60 s read
# timeout, so the client hears an error rather than a proxy timeout.
WAIT_SECONDS = 15.0
# A Redis lock expires this long after its last renewal. A killed process cannot release
# its locks: its residents wait at most this long. A live holder renews every third of it,
# so a slow turn (a Rasa parse that times out after 3 s, a busy machine) never loses its lock.
REDIS_LOCK_SECONDS = 10.0
# redis-py's Lock polls (SET NX) while it waits; the default 0.1 s would add up to 100 ms
# to a message that waits at all. Waiting is rare (the same resident's next message while
# the previous one is still being answered), so polling faster costs little.
REDIS_POLL_SECONDS = 0.02
# Redis connections per process. A waiting lock holds one only while it polls, so a few
# dozen serve hundreds of turns in progress.
REDIS_CONNECTIONS = 50
# Lock connections per process. Each turn in progress holds one for its duration (including
# a wait for the lock), so this also bounds the turns in progress per process; the others
# queue for a connection in asyncio. The main pool (10 + 20 overflow) stays for reads,
# writes and leads, so a lock holder never waits for a connection that another lock holder
# has (which could deadlock). 3 processes x (10 + up to 30) stay under PostgreSQL's default
# max_connections of 100 in practice; raise max_connections before adding processes.
PG_LOCK_POOL_SIZE = 10
# A key of its own for schema migrations (a conversation's key is a 64-bit hash; a
# collision would only make that conversation wait for a migration).
MIGRATION_LOCK = 0x7A68_616F_7265_6E00  # "zhaoren\0"


class ConversationBusy(RuntimeError):
    """The conversation stayed locked by another message for longer than ``WAIT_SECONDS``."""


def advisory_key(key: str) -> int:
    """A conversation key as a signed 64-bit PostgreSQL advisory lock key.

    Two conversations sharing a hash would only wait for each other; with 64 bits that is
    about one pair in 10^11 among a million active conversations.
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLocks:
    """``pg_advisory_xact_lock`` on a dedicated connection, held for the whole turn.

    The transaction-level lock waits in the server's lock queue (first come, first served,
    no polling) and is released by the ``COMMIT`` at the end of the turn, or by PostgreSQL
    itself when the holding connection breaks: a killed process never leaves a lock behind.
    ``lock_timeout`` bounds the wait.
    """

    shared = True

    def __init__(self, url: str, pool_size: int = PG_LOCK_POOL_SIZE):
        """Open a pool of ``pool_size`` connections for locks only."""
        wait_ms = str(int(WAIT_SECONDS * 1000))
        self.db = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=60,
            pool_recycle=1800,
            hide_parameters=True,
            connect_args={"server_settings": {"lock_timeout": wait_ms}},
        )
        self._statement = text("SELECT pg_advisory_xact_lock(:key)")

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` until the block ends (see the class)."""
        from sqlalchemy.exc import DBAPIError

        async with self.db.connect() as connection:
            try:
                await connection.execute(self._statement, {"key": advisory_key(key)})
            except DBAPIError as exc:
                if "lock timeout" in str(exc.orig).lower():
                    raise ConversationBusy(
                        f"conversation still busy after {WAIT_SECONDS:.0f}s"
                    ) from None
                raise
            try:
                yield
            finally:
                await connection.rollback()  # ends the transaction, which releases the lock

    async def close(self) -> None:
        """Close the lock connections."""
        await self.db.dispose()


class RedisLocks:
    """redis-py's asyncio ``Lock`` on ``<prefix>lock:<hash of the key>``, renewed while held.

    The Redis key carries a hash, not the sender: no resident identifier is written to Redis.
    """

    shared = True

    def __init__(self, url: str, prefix: str):
        """Connect lazily to ``url``; every key starts with ``prefix``."""
        from redis.asyncio import BlockingConnectionPool, Redis

        # redis-py's default pool fails at once ("Too many connections") past 100 commands
        # in flight; a blocking one makes the 101st wait for a free connection instead.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=WAIT_SECONDS
        )
        self.redis: Redis = Redis(connection_pool=pool)
        self.prefix = prefix

    def name(self, key: str) -> str:
        """The Redis key of a conversation's lock."""
        return f"{self.prefix}lock:{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}"

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` until the block ends; give up after ``WAIT_SECONDS``."""
        from redis.exceptions import RedisError

        lock = self.redis.lock(
            self.name(key),
            timeout=REDIS_LOCK_SECONDS,
            sleep=REDIS_POLL_SECONDS,
            blocking_timeout=WAIT_SECONDS,
            # One Lock object per turn; a thread-local token would be shared by every
            # coroutine of the event loop's thread.
            thread_local=False,
        )
        if not await lock.acquire():
            raise ConversationBusy(f"conversation still busy after {WAIT_SECONDS:.0f}s")
        # Stopped by an event and awaited, not cancelled: redis-py may swallow a
        # cancellation in the middle of a command, and a renewal that outlived its turn
        # would keep the lock alive for ever.
        done = asyncio.Event()
        renewal = asyncio.create_task(_renew(lock, done))
        try:
            yield
        finally:
            done.set()
            await asyncio.wait([renewal])
            try:
                await lock.release()
            except RedisError as exc:
                # The turn is saved; the lock expires by itself within REDIS_LOCK_SECONDS.
                logger.warning("could not release a conversation lock: %s", exc)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.redis.aclose()


async def _renew(lock: Lock, done: asyncio.Event) -> None:
    """Push the lock's expiry back every third of its lifetime until the turn is done."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), REDIS_LOCK_SECONDS / 3)
            return
        except TimeoutError:
            pass
        try:
            await lock.reacquire()
        except Exception as exc:
            logger.warning("could not renew a conversation lock: %s", exc)
            return


SharedLocks = PostgresLocks | RedisLocks


def shared_locks(settings: Settings) -> SharedLocks | None:
    """The cross-process lock the settings call for; ``None`` for SQLite (one process)."""
    if settings.redis_url:
        return RedisLocks(settings.redis_url, settings.redis_prefix)
    if settings.database_url.startswith("postgresql"):
        return PostgresLocks(settings.database_url)
    return None


async def migrate_alone(
    db: AsyncEngine, migrate: Callable[[AsyncEngine], Awaitable[None]]
) -> None:
    """Run ``migrate`` while holding PostgreSQL's migration lock.

    Several processes starting at once on an empty database would otherwise all try to
    create the tables; the first one migrates, the others find the schema up to date.
    """
    if db.dialect.name != "postgresql":
        await migrate(db)
        return
    async with db.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            await migrate(db)
        finally:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
            )
            await connection.commit()
