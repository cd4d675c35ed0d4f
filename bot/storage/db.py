"""Engine, sessions and migrations."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so writers queue, not fail."""
    if url.startswith("sqlite"):
        # One connection: SQLite has one writer at a time, and a second connection waiting
        # for the lock sleeps in SQLite's busy handler (up to 100 ms a try). Queuing for the
        # connection in asyncio instead keeps the tail latency low.
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            hide_parameters=True,  # SQL errors must not print residents' data into logs
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted or overwritten rows are zeroed in the file, not left in free pages:
            # what a resident withdraws must not be recoverable from the database file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip on every checkout; recycling old connections
    # covers server restarts well enough for this workload.
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_recycle=1800, hide_parameters=True
    )


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema to the newest migration."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    """Sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
