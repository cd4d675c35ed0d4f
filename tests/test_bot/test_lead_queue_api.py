"""The lead queue through the HTTP API: the probe's defects, on SQLite and PostgreSQL.

The state machine itself is tested cell by cell in test_lead_state_machine.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from bot.assembly import Assistant
from bot.config import Settings
from bot.leads import ACTION_FOR_MOVE
from bot.storage.accounts import add_user
from bot.web.app import create_app
from tests.test_bot.queue_helpers import make_lead, read_lead
from tests.test_dialogues.helpers import Resident

LEAD_ID = re.compile(r"L-\d{8}-\d{4,}")
INTAKE_PUDONG = [
    "我一个人住浦东新区花木街道,六十八岁,没有收入",
    "没有",
    "生活费不够",
    "非常急",
    "13912345678 我姓李",
    "/affirm",
    "/affirm",
    "/deny",
]


class Api:
    def __init__(self, client: TestClient[Any, Any], tokens: dict[str, str]):
        self.client = client
        self.tokens = tokens

    async def post(self, user: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        resp = await self.client.post(path, headers=headers, json=body)
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, json.loads(await resp.text())

    async def get(self, user: str, path: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        resp = await self.client.get(path, headers=headers)
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, json.loads(await resp.text())

    async def ids(self, user: str) -> set[str]:
        status, body = await self.get(user, "/api/v1/leads")
        assert status == 200, body
        return {lead["id"] for lead in body["leads"]}


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient, settings: Settings, any_db_assistant: Assistant
) -> Api:
    tokens = {}
    for name, role, district in [
        ("cw_changning", "caseworker", "长宁区"),
        ("cw_changning_2", "caseworker", "长宁区"),
        ("cw_pudong", "caseworker", "浦东新区"),
        ("supervisor", "supervisor", None),
        ("admin", "admin", None),
    ]:
        _user, tokens[name] = await add_user(any_db_assistant.sessions, name, role, district)
    client = await aiohttp_client(await create_app(settings, assistant=any_db_assistant))
    return Api(client, tokens)


@pytest.mark.parametrize(("status", "target"), sorted(ACTION_FOR_MOVE))
async def test_status_endpoint_moves_by_the_table(
    api: Api, any_db_assistant: Assistant, status: str, target: str
) -> None:
    """``POST …/status`` reaches every status the table allows, as a supervisor."""
    holder = None if status == "new" else "cw_changning"
    lead_id = await make_lead(any_db_assistant.sessions, status=status, assignee=holder)
    code, body = await api.post(
        "supervisor", f"/api/v1/leads/{lead_id}/status", {"status": target, "note": "核实"}
    )
    assert code == 200, body
    assert body["status"] == target


async def test_assignee_keeps_a_crisis_lead_when_its_district_becomes_known(
    api: Api, any_db_assistant: Assistant
) -> None:
    """The probe's defect: the crisis lead vanished (404) from the caseworker who held it."""
    resident = Resident(any_db_assistant, "crisis-then-intake")
    match = LEAD_ID.search(await resident.say("我不想活了"))
    assert match
    lead_id = match.group()
    assert (await read_lead(any_db_assistant.sessions, lead_id)).district is None
    code, body = await api.post("cw_changning", f"/api/v1/leads/{lead_id}/claim")
    assert code == 200, body

    # Later the resident says where they live; the lead sink merges it into the same lead.
    for message in INTAKE_PUDONG:
        await resident.say(message)
    assert (await read_lead(any_db_assistant.sessions, lead_id)).district == "浦东新区"

    code, body = await api.get("cw_changning", f"/api/v1/leads/{lead_id}")
    assert code == 200, body
    assert body["assignee"] == "cw_changning"
    assert lead_id in await api.ids("cw_changning")
    code, body = await api.post(
        "cw_changning", f"/api/v1/leads/{lead_id}/status", {"status": "contacted"}
    )
    assert code == 200, body
    # Pudong's caseworker now sees it too (their district), but may not work it.
    assert lead_id in await api.ids("cw_pudong")
    code, body = await api.post(
        "cw_pudong", f"/api/v1/leads/{lead_id}/status", {"status": "closed"}
    )
    assert code == 403 and "cw_changning" in body["error"], body
    # Another Changning caseworker no longer sees it: it is neither theirs nor unplaced.
    code, body = await api.get("cw_changning_2", f"/api/v1/leads/{lead_id}")
    assert code == 404, body


async def test_unplaced_crisis_lead_cannot_be_rejected_and_rejected_is_not_final(
    api: Api, any_db_assistant: Assistant
) -> None:
    crisis = await make_lead(any_db_assistant.sessions, priority=1, district=None)
    path = f"/api/v1/leads/{crisis}"
    for user in ("cw_changning", "cw_pudong", "supervisor"):
        code, body = await api.post(user, f"{path}/status", {"status": "rejected"})
        assert code == 409 and "district is not known" in body["error"], body

    ordinary = await make_lead(any_db_assistant.sessions, district="长宁区")
    path = f"/api/v1/leads/{ordinary}"
    assert (await api.post("cw_changning", f"{path}/status", {"status": "rejected"}))[0] == 200
    code, body = await api.post("supervisor", f"{path}/claim")
    assert code == 409 and "rejected" in body["error"] and "reopen" in body["error"], body
    assert "already claimed" not in body["error"]
    code, body = await api.post("cw_changning", f"{path}/status", {"status": "new"})
    assert code == 403 and "supervisor" in body["error"], body
    code, body = await api.post("admin", f"{path}/status", {"status": "new", "note": "误驳回"})
    assert code == 200 and body["status"] == "new" and body["assignee"] is None, body
    code, body = await api.post("cw_changning_2", f"{path}/claim")
    assert code == 200 and body["assignee"] == "cw_changning_2", body


async def test_caseworkers_work_only_their_district_and_unclaimed_unplaced_crises(
    api: Api, any_db_assistant: Assistant
) -> None:
    pudong = await make_lead(any_db_assistant.sessions, district="浦东新区")
    unplaced_ordinary = await make_lead(any_db_assistant.sessions, priority=3, district=None)
    crisis = await make_lead(any_db_assistant.sessions, priority=1, district=None)
    for lead_id in (pudong, unplaced_ordinary):
        code, body = await api.post("cw_changning", f"/api/v1/leads/{lead_id}/claim")
        assert code == 404, body
    assert {crisis} <= await api.ids("cw_changning")
    code, body = await api.post("cw_pudong", f"/api/v1/leads/{crisis}/claim")
    assert code == 200, body
    code, body = await api.post(
        "cw_changning", f"/api/v1/leads/{crisis}/status", {"status": "closed"}
    )
    assert code == 403 and "cw_pudong" in body["error"], body


async def test_release_returns_a_claimed_lead_to_new(
    api: Api, any_db_assistant: Assistant
) -> None:
    lead_id = await make_lead(any_db_assistant.sessions)
    path = f"/api/v1/leads/{lead_id}"
    assert (await api.post("cw_changning", f"{path}/claim"))[0] == 200
    code, body = await api.post("cw_changning_2", f"{path}/release")
    assert code == 403 and "cw_changning" in body["error"], body
    code, body = await api.post("cw_changning", f"{path}/release")
    assert code == 200 and body["status"] == "new" and body["assignee"] is None, body
    code, body = await api.post("cw_changning", f"{path}/release")
    assert code == 409 and "new" in body["error"], body


async def test_of_two_concurrent_claims_the_loser_is_told_who_has_it(
    api: Api, any_db_assistant: Assistant
) -> None:
    lead_id = await make_lead(any_db_assistant.sessions, priority=1, district=None)
    path = f"/api/v1/leads/{lead_id}/claim"
    results = await asyncio.gather(api.post("cw_changning", path), api.post("cw_pudong", path))
    assert sorted(code for code, _ in results) == [200, 409], results
    winner = next(body["assignee"] for code, body in results if code == 200)
    lost = next(body for code, body in results if code == 409)
    assert f"already claimed by {winner}" in lost["error"], lost
