"""Database tables (SQLAlchemy 2.0 typed declarative)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nlu.privacy import CHINA

_now = partial(datetime.now, UTC)
_LEAD_ID = re.compile(r"L-(\d{8})-(\d+)")


def lead_seq(lead_id: str) -> tuple[str, int] | None:
    """(date, sequence) of a lead reference, or ``None`` if it is not one."""
    match = _LEAD_ID.fullmatch(lead_id.strip())
    if match is None or len(match.group(2)) > 9:  # seq is a 32-bit integer
        return None
    return match.group(1), int(match.group(2))


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Conversation(Base):
    """A conversation's engine state, keyed by ``channel:sender``."""

    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class Lead(Base):
    """A finished self-report (or a crisis) waiting for a caseworker."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_queue", "status", "priority", "created_at"),
        Index("ix_leads_phone_status", "phone", "status"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    conversation_id: Mapped[str] = mapped_column(String(300), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    district: Mapped[str | None] = mapped_column(String(50), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(30), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    @property
    def id(self) -> str:
        """The reference residents and caseworkers see: L-<date in China>-<sequence>.

        Derived, not stored, so that posting a lead is a single INSERT.
        """
        created = (
            self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        )
        return f"L-{created.astimezone(CHINA):%Y%m%d}-{self.seq:04d}"


class LeadNote(Base):
    """A note on a lead: a merged report, a caseworker's remark, a status change."""

    __tablename__ = "lead_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_seq: Mapped[int] = mapped_column(ForeignKey("leads.seq", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class User(Base):
    """A staff account; the API token is stored only as a hash, and it expires."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(50), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # When the current token stops working (set on creation and on every rotation).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """A deletion of residents' data: who, when, what kind and how much (never the data)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
