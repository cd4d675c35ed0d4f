"""The lead state machine, cell by cell, and who may see and work which lead.

Every (status, action, actor) cell of ``bot.leads.TRANSITIONS`` is done once and must land
in its next status; every cell not in the table must be refused with 409 (nobody may do
that in that status) or 403 (someone else may), with a message naming the lead and the
action, and the lead left as it was. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from bot import leads
from bot.leads import ACTIONS, ACTORS, STATUSES, TRANSITIONS, QueueError
from bot.storage.accounts import add_user
from bot.storage.common import Sessions
from bot.storage.db import create_engine, migrate, sessionmaker
from bot.storage.models import Lead, User
from tests.test_bot.queue_helpers import make_lead, read_lead

# The actor of each cell, as an account: "caseworker" is a colleague of the same district.
ACCOUNT = {"assignee": "cw_holder", "caseworker": "cw_colleague", "supervisor": "supervisor"}


def _possible(status: str, actor: str) -> bool:
    """A new lead has nobody holding it, so nobody acts on it as its assignee."""
    return not (status == "new" and actor == "assignee")


IN_TABLE = sorted(TRANSITIONS)
NOT_IN_TABLE = [
    (status, action, actor)
    for status in STATUSES
    for action in ACTIONS
    for actor in ACTORS
    if (status, action, actor) not in TRANSITIONS and _possible(status, actor)
]


ACCOUNTS = [
    ("cw_holder", "caseworker", "长宁区"),
    ("cw_colleague", "caseworker", "长宁区"),
    ("cw_pudong", "caseworker", "浦东新区"),
    ("supervisor", "supervisor", None),
    ("admin", "admin", None),
]


@dataclass
class Queue:
    sessions: Sessions
    users: dict[str, User]

    async def lead(self, status: str, **kwargs: Any) -> str:
        """A lead in ``status``; any but a new one is held by ``cw_holder``."""
        holder = None if status == "new" else "cw_holder"
        return await make_lead(self.sessions, status=status, assignee=holder, **kwargs)

    async def act(self, name: str, lead_id: str, action: str) -> Lead:
        async with self.sessions() as session:
            return await leads.act(session, self.users[name], lead_id, action, note="测试")


async def _fresh_database(url: str) -> None:
    engine = create_engine(url)
    try:
        if url.startswith("postgresql"):  # other modules' tests leave their tables there
            async with engine.begin() as connection:  # every table, later migrations' too
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await migrate(engine)
        for name, role, district in ACCOUNTS:
            await add_user(sessionmaker(engine), name, role, district)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database per backend for the module's ~250 cell tests (each makes its own lead)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('queue') / 'queue.db'}"
    with ThreadPoolExecutor(1) as thread:  # the tests' event loop is not running yet
        thread.submit(asyncio.run, _fresh_database(url)).result()
    return url


@pytest.fixture
async def queue(queue_url: str) -> AsyncIterator[Queue]:
    engine = create_engine(queue_url)
    sessions = sessionmaker(engine)
    try:
        async with sessions() as session:
            users = {user.name: user for user in (await session.scalars(select(User))).all()}
        yield Queue(sessions, users)
    finally:
        await engine.dispose()


def test_the_table_is_whole() -> None:
    """Each cell is a known status, action and actor, and lands in a known status."""
    for (status, action, actor), after in TRANSITIONS.items():
        assert status in STATUSES and action in ACTIONS and actor in ACTORS
        assert after in STATUSES
    # Only a supervisor/admin reopens; nobody but a supervisor/admin leaves closed/rejected.
    for (status, _action, actor), _after in TRANSITIONS.items():
        if status in ("closed", "rejected"):
            assert actor == "supervisor"
    assert len(IN_TABLE) + len(NOT_IN_TABLE) == 6 * 7 * 3 - 7  # less the 7 impossible cells


@pytest.mark.parametrize(("status", "action", "actor"), IN_TABLE)
async def test_each_cell_of_the_table_is_done(
    queue: Queue, status: str, action: str, actor: str
) -> None:
    lead_id = await queue.lead(status)
    held_by = (await read_lead(queue.sessions, lead_id)).assignee

    lead = await queue.act(ACCOUNT[actor], lead_id, action)

    assert lead.status == TRANSITIONS[(status, action, actor)]
    stored = await read_lead(queue.sessions, lead_id)
    assert stored.status == lead.status
    if action == "claim":
        assert stored.assignee == ACCOUNT[actor]
    elif action in ("release", "reopen"):
        assert stored.assignee is None
    else:
        assert stored.assignee == held_by, "only claim, release and reopen change hands"


@pytest.mark.parametrize(("status", "action", "actor"), NOT_IN_TABLE)
async def test_each_cell_not_in_the_table_is_refused(
    queue: Queue, status: str, action: str, actor: str
) -> None:
    lead_id = await queue.lead(status)

    with pytest.raises(QueueError) as refused:
        await queue.act(ACCOUNT[actor], lead_id, action)

    someone_may = any((status, action, who) in TRANSITIONS for who in ACTORS)
    assert refused.value.status == (403 if someone_may else 409), refused.value.message
    assert f"cannot {action} lead {lead_id}" in refused.value.message
    stored = await read_lead(queue.sessions, lead_id)
    assert stored.status == status
    assert stored.assignee == (None if status == "new" else "cw_holder")


@pytest.mark.parametrize(
    ("status", "action", "actor"),
    [cell for cell in IN_TABLE if cell[1] in leads.REFUSED_FOR_UNPLACED_CRISIS],
)
async def test_a_crisis_lead_with_no_district_is_never_rejected(
    queue: Queue, status: str, action: str, actor: str
) -> None:
    lead_id = await queue.lead(status, priority=1, district=None)
    for name in ("cw_holder", "cw_colleague", "cw_pudong", "supervisor", "admin"):
        with pytest.raises(QueueError) as refused:
            await queue.act(name, lead_id, action)
        assert refused.value.status in (403, 409), refused.value.message
        assert "cannot reject" in refused.value.message
    assert (await read_lead(queue.sessions, lead_id)).status == status
    # Anyone may still claim it while it is new.
    if status == "new":
        lead = await queue.act("cw_pudong", lead_id, "claim")
        assert lead.assignee == "cw_pudong"
