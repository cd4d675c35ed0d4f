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


class SqlLeadSink:
    """Creates leads idempotently and merges reports from the same phone."""

    def __init__(self, sessions: Sessions):
        """Use ``sessions`` for every call."""
        self.sessions = sessions

    async def post(self, draft: LeadDraft) -> PostedLead:
        """Create, or return/merge into the existing lead (see ``LeadSink``)."""
        for _attempt in range(3):
            try:
                return await self._post_once(draft)
            except IntegrityError:
                # A concurrent post with the same key won the race: read its lead.
                logger.info("Lead post raced on its idempotency key; re-reading")
        raise RuntimeError("could not post lead after 3 attempts")

    async def _post_once(self, draft: LeadDraft) -> PostedLead:
        now = datetime.now(UTC)
        since = now - MERGE_WINDOW
        open_recent = Lead.status.in_(OPEN_STATUSES) & (Lead.created_at >= since)
        # One query finds, in order of preference: this very report posted before (a
        # retry), this conversation's open lead (e.g. its crisis lead), or an open lead
        # with the same phone number.
        # Only open leads: a closed crisis lead is not reopened by a new crisis; a new one
        # is posted so that someone is alerted.
        matches = [
            Lead.status.in_(OPEN_STATUSES) & (Lead.idempotency_key == draft.idempotency_key),
            open_recent & (Lead.conversation_id == draft.conversation_id),
        ]
        phone = draft.contact.get("phone")
        if phone:
            matches.append(open_recent & (Lead.phone == phone))
        preference = case(
            (Lead.idempotency_key == draft.idempotency_key, 0),
            (Lead.conversation_id == draft.conversation_id, 1),
            else_=2,
        )
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
            finished = await session.scalar(select(Lead.seq).where(Lead.idempotency_key == key))
            if finished is not None:
                key = f"{key}#{finished}"  # the earlier lead with this key is closed
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
                data=_draft_data(draft),
            )
            session.add(lead)
            await session.flush()
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
