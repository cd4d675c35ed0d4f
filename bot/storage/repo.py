"""Query functions and the engine's storage ports, on one async sessionmaker."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.storage.models import Conversation, Lead, LeadNote, User, lead_seq
from dialogues.schema import LeadDraft, LeadStatus, PostedLead
from nlu.privacy import CHINA, mask_phone, redact

logger = logging.getLogger(__name__)

OPEN_STATUSES = ("new", "claimed", "contacted", "referred")
MERGE_WINDOW = timedelta(days=30)
ROLES = ("caseworker", "supervisor", "hotline", "admin")
Sessions = async_sessionmaker[AsyncSession]


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone=True columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
                select(Lead).where(or_(*matches)).order_by(preference, Lead.seq.desc()).limit(1)
            )
            if existing is not None:
                if existing.idempotency_key != draft.idempotency_key or draft.life_protection:
                    _merge(session, existing, draft, now)
                return PostedLead(existing.id, False, _utc(existing.due_at).timestamp())
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
                str(lead.id), lead.status, _utc(lead.created_at).timestamp(), lead.priority
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
    lead.data = data
    if lead.phone is None and draft.contact.get("phone"):
        lead.phone = draft.contact["phone"]
    if lead.district is None and draft.region.get("district"):
        lead.district = draft.region["district"]
    if draft.priority < lead.priority:
        lead.priority = draft.priority
        lead.due_at = min(_utc(lead.due_at), now + timedelta(hours=draft.due_hours))
    lead.updated_at = now
    session.add(LeadNote(lead_seq=lead.seq, author="system", text="补充登记:" + draft.summary))


def lead_json(
    lead: Lead, notes: list[LeadNote] | None = None, unmask: bool = False
) -> dict[str, Any]:
    """The contract's lead JSON (§5); the phone is masked unless ``unmask``."""
    data = lead.data
    result: dict[str, Any] = {
        "id": lead.id,
        "created_at": _utc(lead.created_at).astimezone(CHINA).isoformat(timespec="seconds"),
        "channel": lead.channel,
        "conversation_id": lead.conversation_id,
        "status": lead.status,
        "priority": lead.priority,
        "due_at": _utc(lead.due_at).astimezone(CHINA).isoformat(timespec="seconds"),
        "assignee": lead.assignee,
        "region": data.get("region", {}),
        "contact": {
            "name": data.get("contact_name"),
            "phone": lead.phone if unmask or not lead.phone else mask_phone(lead.phone),
        },
        "household": data.get("household", {}),
        "income_monthly": data.get("income_monthly"),
        "current_assistance": data.get("current_assistance", []),
        "needs": data.get("needs", []),
        "tier_3a": data.get("tier_3a", []),
        "target_class": data.get("target_class"),
        "candidate_policies": data.get("candidate_policies", []),
        "consent": data.get("consent", {}),
        "summary": data.get("summary", ""),
        "reasons": data.get("reasons", {}),
        "life_protection": data.get("life_protection", False),
    }
    if notes is not None:
        result["notes"] = [
            {
                "author": n.author,
                "text": n.text if unmask else redact(n.text),
                "created_at": _utc(n.created_at).astimezone(CHINA).isoformat(timespec="seconds"),
            }
            for n in notes
        ]
    return result


def hash_token(token: str) -> str:
    """Tokens are stored hashed so that a database dump does not grant access."""
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(
    sessions: Sessions, name: str, role: str, district: str | None
) -> tuple[User, str]:
    """Create an account and return it with its (only ever shown once) token."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        user = User(name=name, role=role, district=district, token_hash=hash_token(token))
        session.add(user)
    return user, token


async def user_by_token(sessions: Sessions, token: str) -> User | None:
    """The account a bearer token belongs to."""
    async with sessions() as session:
        return await session.scalar(select(User).where(User.token_hash == hash_token(token)))
