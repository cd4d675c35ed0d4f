"""Conversation state, saved with group commit (the engine's ``StateStore``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.models import Conversation


class SqlStateStore:
    """Conversation state in the ``conversations`` table, saved with group commit.

    Every ``save`` returns only once its state is committed, so nothing a resident said is
    lost on a restart. Saves that arrive while a commit is running are written together in
    the next one: under load, one transaction carries many conversations instead of each
    paying for its own.
    """

    def __init__(self, db: AsyncEngine):
        """Use ``db`` directly: a Core statement costs far less than an ORM session here."""
        self.db = db
        insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
        upsert = insert(Conversation)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[Conversation.key],
            set_={"data": upsert.excluded.data, "updated_at": upsert.excluded.updated_at},
        )
        self._select = select(Conversation.data).where(Conversation.key == bindparam("key"))
        self._pending: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def load(self, key: str) -> dict[str, Any] | None:
        """The saved state, or ``None``."""
        async with self.db.connect() as connection:
            data = await connection.scalar(self._select, {"key": key})
            return dict(data) if data is not None else None

    async def save(self, key: str, data: dict[str, Any]) -> None:
        """Store the state; returns once it is committed."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = data
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._pending:
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = {}, []
            now = datetime.now(UTC)
            rows = [{"key": k, "data": d, "updated_at": now} for k, d in batch.items()]
            try:
                async with self.db.begin() as connection:
                    await connection.execute(self._upsert, rows)
            except Exception as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
