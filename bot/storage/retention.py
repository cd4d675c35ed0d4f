"""Deleting residents' data: idle conversations after the retention period, and on request.

What is deleted is gone from the database files too: SQLite runs with ``secure_delete`` (freed
space is overwritten) and every deletion ends with a checkpoint that truncates the WAL, where
older copies of the pages would otherwise stay. PostgreSQL keeps dead row versions until
``VACUUM`` (autovacuum) reclaims them; an operator who must erase at once runs ``VACUUM``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.common import Sessions
from bot.storage.models import AuditEntry, Conversation, Lead, lead_seq
from nlu.privacy import mask_phone

logger = logging.getLogger(__name__)

# Conversation keys are "channel:sender"; a phone as residents type it is reduced to digits.
_DIGITS = re.compile(r"\D")


@dataclass(frozen=True, slots=True)
class Deleted:
    """How much a deletion removed."""

    conversations: int
    leads: int


async def checkpoint(db: AsyncEngine) -> None:
    """Make deleted data unrecoverable from SQLite's files (a no-op on PostgreSQL)."""
    if db.dialect.name != "sqlite":
        return
    async with db.connect() as connection:
        await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def purge_idle(
    db: AsyncEngine, sessions: Sessions, older_than: timedelta, now: datetime | None = None
) -> int:
    """Delete conversations (and the unfinished reports in them) idle for ``older_than``.

    Leads are casework records and are not touched: they are closed by caseworkers.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(Conversation)
            .where(Conversation.updated_at < cutoff)
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            session.add(
                AuditEntry(
                    actor="retention",
                    action="purge_idle",
                    detail=f"{count} conversations idle since before {cutoff:%Y-%m-%d %H:%M} UTC",
                )
            )
    await checkpoint(db)
    return count


async def forget(
    db: AsyncEngine,
    sessions: Sessions,
    actor: str,
    *,
    conversation: str | None = None,
    phone: str | None = None,
    lead_id: str | None = None,
) -> Deleted:
    """Delete one resident's conversations and leads, found by any of the three, and audit it.

    A lead found leads to its conversation and a conversation to its leads, so that nothing
    the resident said stays behind under another key.
    """
    lead_filters = []
    if phone:
        digits = _DIGITS.sub("", phone)
        lead_filters.append(Lead.phone == digits)
    if lead_id:
        parsed = lead_seq(lead_id)
        if parsed is None:
            raise ValueError(f"{lead_id!r} is not a lead reference (L-<date>-<number>)")
        lead_filters.append(Lead.seq == parsed[1])
    if conversation:
        lead_filters.append(Lead.conversation_id == conversation)
    if not lead_filters:
        raise ValueError("say whose data to delete: a conversation, a phone or a lead")
    async with sessions() as session, session.begin():
        leads = (await session.scalars(select(Lead).where(or_(*lead_filters)))).all()
        keys = {lead.conversation_id for lead in leads}
        if conversation:
            keys.add(conversation)
        lead_count = len(leads)
        for lead in leads:
            await session.delete(lead)  # its notes go with it (ON DELETE CASCADE)
        result = await session.execute(
            delete(Conversation)
            .where(Conversation.key.in_(keys))
            .execution_options(synchronize_session=False)
        )
        conversations = int(result.rowcount or 0)  # type: ignore[attr-defined]
        asked = ", ".join(
            part
            for part in (
                f"conversation {conversation}" if conversation else "",
                f"phone {mask_phone(phone)}" if phone else "",
                f"lead {lead_id}" if lead_id else "",
            )
            if part
        )
        session.add(
            AuditEntry(
                actor=actor,
                action="forget",
                detail=f"on request ({asked}): {conversations} conversations, {lead_count} leads",
            )
        )
    await checkpoint(db)
    logger.info("Forgot a resident: %d conversations, %d leads", conversations, lead_count)
    return Deleted(conversations, lead_count)
