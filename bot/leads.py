"""The lead queue: who may see which lead, and the status state machine, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Lead, LeadNote, User, lead_seq

STATUSES = ("new", "claimed", "contacted", "referred", "closed", "rejected")
ACTIONS = ("claim", "release", "contact", "refer", "close", "reject", "reopen")
# Who acts on a lead, as the state machine sees it: the caseworker holding the lead, any
# other caseworker who may see it, or a supervisor/admin (whoever holds the lead).
ACTORS = ("assignee", "caseworker", "supervisor")
ALL_DISTRICTS_ROLES = {"supervisor", "admin"}

# The whole state machine: (status, action, actor) -> next status. Whatever is not here is
# refused: 409 when nobody may do that action in that status, 403 when someone else may.
TRANSITIONS: Final[dict[tuple[str, str, str], str]] = {
    ("new", "claim", "caseworker"): "claimed",
    ("new", "claim", "supervisor"): "claimed",
    ("new", "reject", "caseworker"): "rejected",
    ("new", "reject", "supervisor"): "rejected",
    ("claimed", "release", "assignee"): "new",
    ("claimed", "release", "supervisor"): "new",
    ("claimed", "contact", "assignee"): "contacted",
    ("claimed", "contact", "supervisor"): "contacted",
    ("claimed", "refer", "assignee"): "referred",
    ("claimed", "refer", "supervisor"): "referred",
    ("claimed", "close", "assignee"): "closed",
    ("claimed", "close", "supervisor"): "closed",
    ("claimed", "reject", "assignee"): "rejected",
    ("claimed", "reject", "supervisor"): "rejected",
    ("contacted", "refer", "assignee"): "referred",
    ("contacted", "refer", "supervisor"): "referred",
    ("contacted", "close", "assignee"): "closed",
    ("contacted", "close", "supervisor"): "closed",
    ("contacted", "reject", "assignee"): "rejected",
    ("contacted", "reject", "supervisor"): "rejected",
    ("referred", "contact", "assignee"): "contacted",
    ("referred", "contact", "supervisor"): "contacted",
    ("referred", "close", "assignee"): "closed",
    ("referred", "close", "supervisor"): "closed",
    ("closed", "reopen", "supervisor"): "new",
    ("rejected", "reopen", "supervisor"): "new",
}
# A crisis lead whose district is not known yet belongs to nobody's district: anyone may
# claim it, nobody may reject it (claim it and close it with a note instead).
REFUSED_FOR_UNPLACED_CRISIS: Final = frozenset({"reject"})
# Actions that change who holds the lead ("self": the actor; None: nobody).
TAKES_LEAD: Final = frozenset({"claim"})
FREES_LEAD: Final = frozenset({"release", "reopen"})
_NOTE_TEXT: Final = {"claim": "认领", "release": "放回队列", "reopen": "重新打开"}
_WHO: Final = {
    "assignee": "its assignee",
    "caseworker": "a caseworker of its district",
    "supervisor": "a supervisor or admin",
}


def _action_for_move() -> dict[tuple[str, str], str]:
    moves: dict[tuple[str, str], str] = {}
    for (status, action, _actor), after in TRANSITIONS.items():
        if moves.setdefault((status, after), action) != action:
            raise AssertionError(f"two actions take a lead from {status} to {after}")
    return moves


# ``POST …/status {"status"}`` names where the lead goes; this says by which action.
ACTION_FOR_MOVE: Final = _action_for_move()


class QueueError(Exception):
    """A queue operation that cannot be done; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str):
        """Remember status and message."""
        super().__init__(message)
        self.status = status
        self.message = message


def visible(query: Select[Any], user: User) -> Select[Any]:
    """Restrict a query to the leads ``user`` may see.

    Caseworkers see their own district, crisis leads whose district is not yet known (so
    that nobody's life depends on the resident having said where they live), and every lead
    they hold, whatever its district has become since they took it.
    """
    if user.role in ALL_DISTRICTS_ROLES:
        return query
    unplaced_crisis = Lead.district.is_(None) & (Lead.priority == 1)
    if user.district is None:
        return query.where(or_(Lead.assignee == user.name, unplaced_crisis))
    return query.where(
        or_(Lead.assignee == user.name, Lead.district == user.district, unplaced_crisis)
    )


def actor_of(user: User, lead: Lead) -> str:
    """The user's part in the state machine for this lead (see ``ACTORS``)."""
    if user.role in ALL_DISTRICTS_ROLES:
        return "supervisor"
    return "assignee" if lead.assignee == user.name else "caseworker"


def decide(user: User, lead: Lead, action: str) -> str:
    """The status ``action`` takes the lead to, or a ``QueueError`` saying why not."""
    if action not in ACTIONS:
        raise QueueError(400, f"action must be one of {', '.join(ACTIONS)}")
    actor = actor_of(user, lead)
    refused = f"cannot {action} lead {lead.id}"
    after = TRANSITIONS.get((lead.status, action, actor))
    if after is not None:
        if action in REFUSED_FOR_UNPLACED_CRISIS and lead.priority == 1 and not lead.district:
            raise QueueError(
                409,
                f"{refused}: it is a crisis lead whose district is not known yet; "
                "claim it (and close it with a note if there is nothing to do)",
            )
        return after
    may = [who for who in ACTORS if (lead.status, action, who) in TRANSITIONS]
    if not may:
        if action == "claim" and lead.assignee:
            raise QueueError(409, f"{refused}: it is already claimed by {lead.assignee}")
        if lead.status in ("closed", "rejected"):
            raise QueueError(
                409, f"{refused}: it is {lead.status} (a supervisor or admin may reopen it)"
            )
        raise QueueError(409, f"{refused}: it is {lead.status}")
    if actor == "caseworker" and lead.assignee:
        raise QueueError(403, f"{refused}: it is assigned to {lead.assignee}")
    whom = " or ".join(_WHO[who] for who in may)
    raise QueueError(403, f"{refused}: only {whom} may {action} a {lead.status} lead")


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


async def act(
    session: AsyncSession, user: User, lead_id: str, action: str, note: str | None = None
) -> Lead:
    """Do ``action`` on a lead as the state machine allows, with an optional note.

    The update is conditional on the status and assignee just read, so that of two
    concurrent actions (two claims, say) only one applies; the other is answered as if it
    had come second, e.g. "already claimed by …".
    """
    lead = await get_lead(session, user, lead_id)
    after = decide(user, lead, action)
    values: dict[str, object] = {"status": after, "updated_at": datetime.now(UTC)}
    if action in TAKES_LEAD:
        values["assignee"] = user.name
    elif action in FREES_LEAD:
        values["assignee"] = None
    held_by = Lead.assignee.is_(None) if lead.assignee is None else Lead.assignee == lead.assignee
    result = await session.execute(
        update(Lead)
        .where(Lead.seq == lead.seq, Lead.status == lead.status, held_by)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        await session.refresh(lead)
        decide(user, lead, action)  # says what the other request did, if it can
        raise QueueError(409, f"lead {lead.id} was changed by someone else; reload it")
    text = _NOTE_TEXT.get(action, f"状态改为 {after}") + (f":{note}" if note else "")
    session.add(LeadNote(lead_seq=lead.seq, author=user.name, text=text))
    await session.commit()
    await session.refresh(lead)
    return lead


async def claim(session: AsyncSession, user: User, lead_id: str) -> Lead:
    """Take a new lead; of two concurrent claims only one wins."""
    return await act(session, user, lead_id, "claim")


async def change_status(
    session: AsyncSession, user: User, lead_id: str, status: str, note: str | None
) -> Lead:
    """Move a lead to ``status`` by the one action that goes there from where it is."""
    if status not in STATUSES:
        raise QueueError(400, f"status must be one of {', '.join(STATUSES)}")
    lead = await get_lead(session, user, lead_id)
    action = ACTION_FOR_MOVE.get((lead.status, status))
    if action is None:
        reachable = sorted({after for (s, after) in ACTION_FOR_MOVE if s == lead.status})
        onward = f"; from {lead.status} it can go to {', '.join(reachable)}" if reachable else ""
        raise QueueError(409, f"cannot move lead {lead.id} from {lead.status} to {status}{onward}")
    return await act(session, user, lead_id, action, note)


async def add_note(session: AsyncSession, user: User, lead_id: str, text: str) -> LeadNote:
    """Add a caseworker's note."""
    lead = await get_lead(session, user, lead_id)
    note = LeadNote(lead_seq=lead.seq, author=user.name, text=text)
    session.add(note)
    await session.commit()
    return note
