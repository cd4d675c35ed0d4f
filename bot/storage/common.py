"""Shared storage helpers: session factory type and time handling."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Sessions = async_sessionmaker[AsyncSession]


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone=True columns: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
