"""Leads and accounts made directly in the database, for the lead-queue tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.storage.common import Sessions
from bot.storage.models import Lead
from bot.web.errors import JsonErrorAppRunner


async def make_lead(
    sessions: Sessions,
    *,
    status: str = "new",
    priority: int = 3,
    district: str | None = "长宁区",
    assignee: str | None = None,
) -> str:
    """A lead as the lead sink would have posted it, already in ``status``."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        lead = Lead(
            idempotency_key=secrets.token_hex(8),
            conversation_id=f"rest:{secrets.token_hex(4)}",
            channel="rest",
            status=status,
            priority=priority,
            created_at=now,
            updated_at=now,
            due_at=now + timedelta(hours=1),
            district=district,
            assignee=assignee,
            phone="13812345678",
            data={"region": {"district": district, "street": None}, "summary": "测试"},
        )
        session.add(lead)
        await session.flush()
        return lead.id


async def read_lead(sessions: Sessions, lead_id: str) -> Lead:
    """The lead as stored now."""
    seq = int(lead_id.rsplit("-", 1)[1])
    async with sessions() as session:
        lead = await session.get(Lead, seq)
        assert lead is not None
        return lead


class JsonErrorTestServer(TestServer):
    """The test server, run the way ``zhaoren serve`` runs the app."""

    async def _make_runner(self, **kwargs: object) -> web.AppRunner:
        return JsonErrorAppRunner(self.app, **kwargs)  # type: ignore[arg-type]
