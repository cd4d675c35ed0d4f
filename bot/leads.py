"""The lead queue: who may see which lead, and the status state machine, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Lead, LeadNote, User, lead_seq

STATUSES = ("new", "claimed", "contacted", "referred", "closed", "rejected")
TRANSITIONS: dict[str, set[str]] = {
    # Only claim() takes a lead to "claimed": it sets the assignee in the same statement.
    "new": {"rejected"},
    "claimed": {"contacted", "referred", "closed", "rejected", "new"},
    "contacted": {"referred", "closed", "rejected"},
    "referred": {"contacted", "closed"},
    "closed": set(),
    "rejected": set(),
}
ALL_DISTRICTS_ROLES = {"supervisor", "admin"}


class QueueError(Exception):
    """A queue operation that cannot be done; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str):
        """Remember status and message."""
        super().__init__(message)
        self.status = status
        self.message = message


def visible(query: Select[Any], user: User) -> Select[Any]:
    """Restrict a query to the leads ``user`` may see.

    Caseworkers see their own district, and crisis leads whose district is not yet known
    (so that nobody's life depends on the resident having said where they live).
    """
    if user.role in ALL_DISTRICTS_ROLES:
        return query
    if user.district is None:
        return query.where(Lead.district.is_(None), Lead.priority == 1)
    return query.where(
        or_(Lead.district == user.district, (Lead.district.is_(None)) & (Lead.priority == 1))
    )


async def list_leads(
    session: AsyncSession, user: User, filters: dict[str, Any], limit: int, offset: int
) -> list[Lead]:
    """Leads for the queue: most urgent priority first, then oldest due first."""
    query = visible(select(Lead), user)
    if "status" in filters:
        query = query.where(Lead.status == filters["status"])
    if "priority" in filters:
        query = query.where(Lead.priority == filters["priority"])
    if "district" in filters:
        query = query.where(Lead.district == filters["district"])
    if "assignee" in filters:
        query = query.where(Lead.assignee == filters["assignee"])
    query = query.order_by(Lead.priority, Lead.due_at, Lead.seq).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def get_lead(session: AsyncSession, user: User, lead_id: str) -> Lead:
    """One lead the user may see, or 404 (not 403: do not reveal that it exists)."""
    parsed = lead_seq(lead_id)
    lead: Lead | None = None
    if parsed is not None:
        lead = await session.scalar(visible(select(Lead).where(Lead.seq == parsed[1]), user))
    if lead is None or lead.id != lead_id.strip():
        raise QueueError(404, f"no lead {lead_id}")
    return lead


async def notes_of(session: AsyncSession, lead: Lead) -> list[LeadNote]:
    """A lead's notes, oldest first."""
    query = select(LeadNote).where(LeadNote.lead_seq == lead.seq).order_by(LeadNote.id)
    return list((await session.scalars(query)).all())


async def claim(session: AsyncSession, user: User, lead_id: str) -> Lead:
    """Take a new lead. The update is conditional so that of two claims only one wins."""
    lead = await get_lead(session, user, lead_id)
    now = datetime.now(UTC)
    result = await session.execute(
        update(Lead)
        .where(Lead.seq == lead.seq, Lead.status == "new", Lead.assignee.is_(None))
        .values(status="claimed", assignee=user.name, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise QueueError(409, f"lead {lead_id} is already claimed")
    session.add(LeadNote(lead_seq=lead.seq, author=user.name, text="认领"))
    await session.commit()
    await session.refresh(lead)
    return lead


async def change_status(
    session: AsyncSession, user: User, lead_id: str, status: str, note: str | None
) -> Lead:
    """Move a lead along the state machine, with an optional note."""
    if status not in STATUSES:
        raise QueueError(400, f"status must be one of {', '.join(STATUSES)}")
    lead = await get_lead(session, user, lead_id)
    if status not in TRANSITIONS[lead.status]:
        raise QueueError(409, f"cannot go from {lead.status} to {status}")
    if lead.assignee not in (None, user.name) and user.role not in ALL_DISTRICTS_ROLES:
        raise QueueError(403, f"lead {lead_id} is assigned to someone else")
    now = datetime.now(UTC)
    values: dict[str, object] = {"status": status, "updated_at": now}
    if status == "new":
        values["assignee"] = None
    # Conditional on the status just read: of two concurrent changes only one applies.
    result = await session.execute(
        update(Lead)
        .where(Lead.seq == lead.seq, Lead.status == lead.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise QueueError(409, f"lead {lead_id} was changed by someone else; reload it")
    text = f"状态改为 {status}" + (f":{note}" if note else "")
    session.add(LeadNote(lead_seq=lead.seq, author=user.name, text=text))
    await session.commit()
    await session.refresh(lead)
    return lead


async def add_note(session: AsyncSession, user: User, lead_id: str, text: str) -> LeadNote:
    """Add a caseworker's note."""
    lead = await get_lead(session, user, lead_id)
    note = LeadNote(lead_seq=lead.seq, author=user.name, text=text)
    session.add(note)
    await session.commit()
    return note
