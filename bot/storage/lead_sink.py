"""Posting leads: idempotent, merged into open leads (the engine's ``LeadSink``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.common import Sessions, utc
from bot.storage.models import Lead, LeadNote, lead_seq
from dialogues.schema import LeadDraft, LeadStatus, PostedLead

logger = logging.getLogger(__name__)

OPEN_STATUSES = ("new", "claimed", "contacted", "referred")
MERGE_WINDOW = timedelta(days=30)
MAX_DUPLICATES_SHOWN = 5


class _PostedMeanwhile(Exception):
    """This report's lead appeared while it was being posted: read it again."""


class SqlLeadSink:
    """Creates leads idempotently; a conversation's later reports merge into its open lead."""

    def __init__(self, sessions: Sessions):
        """Use ``sessions`` for every call."""
        self.sessions = sessions

    async def post(self, draft: LeadDraft) -> PostedLead:
        """Create, or return/merge into the existing lead (see ``LeadSink``)."""
        for _attempt in range(3):
            try:
                return await self._post_once(draft)
            except (IntegrityError, _PostedMeanwhile):
                # A concurrent post with the same key won the race: read its lead.
                logger.info("Lead post raced on its idempotency key; re-reading")
        raise RuntimeError("could not post lead after 3 attempts")

    async def _post_once(self, draft: LeadDraft) -> PostedLead:
        now = datetime.now(UTC)
        since = now - MERGE_WINDOW
        # A report is merged only into its own conversation's lead: this very report posted
        # before (a retry, a double tap), or the conversation's open lead (e.g. its crisis
        # lead). Never by phone: a phone number proves nothing about who is writing, and
        # merging by it told one resident another's reference and changed another's lead.
        # Only open leads: a closed crisis lead is not reopened by a new crisis; a new one
        # is posted so that someone is alerted.
        matches = [
            Lead.status.in_(OPEN_STATUSES) & (Lead.idempotency_key == draft.idempotency_key),
            Lead.status.in_(OPEN_STATUSES)
            & (Lead.created_at >= since)
            & (Lead.conversation_id == draft.conversation_id),
        ]
        preference = case((Lead.idempotency_key == draft.idempotency_key, 0), else_=1)
        phone = draft.contact.get("phone")
        async with self.sessions() as session, session.begin():
            existing = await session.scalar(
                select(Lead)
                .where(or_(*matches))
                .order_by(preference, Lead.seq.desc())
                .limit(1)
                # Two reports merging into one lead at once must not lose each other's
                # needs (PostgreSQL locks the row; SQLite has a single writer anyway).
                .with_for_update()
            )
            if existing is not None:
                if existing.idempotency_key != draft.idempotency_key or draft.life_protection:
                    _merge(session, existing, draft, now)
                return PostedLead(existing.id, False, utc(existing.due_at).timestamp())
            key = draft.idempotency_key
            earlier = (
                await session.execute(
                    select(Lead.seq, Lead.status).where(Lead.idempotency_key == key)
                )
            ).first()
            if earlier is not None and earlier.status in OPEN_STATUSES:
                # Posted by a concurrent request since our first read (PostgreSQL reads
                # each statement afresh): read it again rather than post a second lead.
                raise _PostedMeanwhile
            if earlier is not None:
                key = f"{key}#{earlier.seq}"  # the earlier lead with this key is closed
            data = _draft_data(draft)
            same_phone = await _same_phone_elsewhere(session, phone, draft.conversation_id, since)
            if same_phone:
                data["possible_duplicates"] = [other.id for other in same_phone]
            lead = Lead(
                idempotency_key=key,
                conversation_id=draft.conversation_id,
                channel=draft.channel,
                status="new",
                priority=draft.priority,
                created_at=now,
                updated_at=now,
                due_at=now + timedelta(hours=draft.due_hours),
                district=draft.region.get("district"),
                phone=phone,
                data=data,
            )
            session.add(lead)
            await session.flush()
            for other in same_phone:
                # For the caseworkers of both leads; the resident is never told.
                other.data = {
                    **other.data,
                    "possible_duplicates": [*other.data.get("possible_duplicates", []), lead.id],
                }
                session.add(
                    LeadNote(
                        lead_seq=other.seq,
                        author="system",
                        text=f"可能重复:{lead.id} 留了同一电话",
                    )
                )
            return PostedLead(lead.id, True, lead.due_at.timestamp())

    async def status(self, lead_id: str) -> LeadStatus | None:
        """The lead's status for the resident."""
        async with self.sessions() as session:
            lead = await find_lead(session, lead_id)
            if lead is None:
                return None
            return LeadStatus(
                str(lead.id), lead.status, utc(lead.created_at).timestamp(), lead.priority
            )


async def find_lead(session: AsyncSession, lead_id: str) -> Lead | None:
    """A lead by its public reference (L-<date>-<sequence>)."""
    parsed = lead_seq(lead_id)
    if parsed is None:
        return None
    lead = await session.get(Lead, parsed[1])
    return lead if lead is not None and lead.id == lead_id.strip() else None


async def _same_phone_elsewhere(
    session: AsyncSession, phone: str | None, conversation_id: str, since: datetime
) -> list[Lead]:
    """Recent open leads of other conversations that gave the same phone."""
    if not phone:
        return []
    query = (
        select(Lead)
        .where(
            Lead.phone == phone,
            Lead.conversation_id != conversation_id,
            Lead.status.in_(OPEN_STATUSES),
            Lead.created_at >= since,
        )
        .order_by(Lead.seq)
        .limit(MAX_DUPLICATES_SHOWN)
    )
    return list((await session.scalars(query)).all())


def _draft_data(draft: LeadDraft) -> dict[str, Any]:
    return {
        "region": draft.region,
        "contact_name": draft.contact.get("name"),
        "household": draft.household,
        "income_monthly": draft.income_monthly,
        "current_assistance": draft.current_assistance,
        "needs": draft.needs,
        "tier_3a": draft.tier_3a,
        "target_class": draft.target_class,
        "candidate_policies": draft.candidate_policies,
        "consent": draft.consent,
        "summary": draft.summary,
        "reasons": draft.reasons,
        "life_protection": draft.life_protection,
    }


def _merge(session: AsyncSession, lead: Lead, draft: LeadDraft, now: datetime) -> None:
    """Add a later report to an open lead: never lose what either one said."""
    data = dict(lead.data)
    fresh = _draft_data(draft)
    if data.get("income_monthly") is None:
        data["income_monthly"] = fresh["income_monthly"]  # 0 is an answer, not a gap
    for key in ("household", "region"):
        known = data.get(key) or {}
        if not any(v for v in known.values()) or (
            key == "household" and not known.get("size") and fresh[key].get("size")
        ):
            data[key] = fresh[key]
    data["contact_name"] = data.get("contact_name") or fresh["contact_name"]
    known = {(n["category"], n["detail"]) for n in data.get("needs", [])}
    data["needs"] = data.get("needs", []) + [
        n for n in fresh["needs"] if (n["category"], n["detail"]) not in known
    ]
    for key in ("candidate_policies", "tier_3a", "current_assistance"):
        data[key] = list(dict.fromkeys([*data.get(key, []), *fresh[key]]))
    if draft.consent.get("caseworker"):
        data["consent"] = draft.consent
    if draft.life_protection and draft.idempotency_key == lead.idempotency_key:
        # A crisis lead's summary is rewritten with every follow-up the resident sends.
        data["summary"] = fresh["summary"]
    lead.data = data
    if lead.phone is None and draft.contact.get("phone"):
        lead.phone = draft.contact["phone"]
    if lead.district is None and draft.region.get("district"):
        lead.district = draft.region["district"]
    if draft.priority < lead.priority:
        lead.priority = draft.priority
        lead.due_at = min(utc(lead.due_at), now + timedelta(hours=draft.due_hours))
    lead.updated_at = now
    session.add(LeadNote(lead_seq=lead.seq, author="system", text="补充登记:" + draft.summary))
