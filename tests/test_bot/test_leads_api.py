"""The caseworkers' lead API (contract §4, §5), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from bot.assembly import Assistant
from bot.config import Settings
from bot.storage.accounts import add_user
from bot.web.app import create_app
from tests.contract import LEAD_KEYS, NEED_CATEGORIES, POLICY_IDS
from tests.test_dialogues.helpers import Resident

LEAD_ID = re.compile(r"L-\d{8}-\d{4}")
ISO_CHINA = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
CONTRACT_KEYS = LEAD_KEYS
CHANGNING_PHONE = "13812345678"
PUDONG_PHONE = "13912345678"


@dataclass
class World:
    client: TestClient[Any, Any]
    tokens: dict[str, str]
    changning: str
    pudong: str
    crisis: str

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def get(self, user: str, path: str, **params: str) -> tuple[int, Any]:
        resp = await self.client.get(path, headers=self.auth(user), params=params)
        return resp.status, await _json(resp)

    async def post(self, user: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.post(path, headers=self.auth(user), json=body)
        return resp.status, await _json(resp)

    async def listing(self, user: str, **params: str) -> list[dict[str, Any]]:
        status, body = await self.get(user, "/api/v1/leads", **params)
        assert status == 200, body
        leads: list[dict[str, Any]] = body["leads"]
        return leads

    async def detail(self, user: str, lead_id: str) -> dict[str, Any]:
        status, body = await self.get(user, f"/api/v1/leads/{lead_id}")
        assert status == 200, body
        lead: dict[str, Any] = body
        return lead


async def _json(resp: Any) -> Any:
    text = await resp.text()
    assert resp.content_type == "application/json", (resp.status, text)
    assert "Traceback" not in text
    return json.loads(text)


def assert_error(status: int, body: Any, expected: int) -> None:
    assert status == expected, body
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str)
    assert body["error"].strip()


async def drive(resident: Resident, steps: list[tuple[str, str]]) -> str:
    """Say each message and check the reply asks what is expected; return the last reply."""
    reply = ""
    for message, expected in steps:
        reply = await resident.say(message)
        assert expected in reply, f"after {message!r} expected {expected!r} in {reply!r}"
    return reply


async def intake_changning(assistant: Assistant) -> str:
    resident = Resident(assistant, "changning-resident")
    reply = await drive(
        resident,
        [
            ("我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路", "救助"),
            ("没有", "最需要"),
            ("老伴住院了医药费付不起", "多急"),
            ("比较急", "电话"),
            (f"{CHANGNING_PHONE} 我姓王", "对吗"),
            ("/affirm", "同意"),
            ("/affirm", "慈善"),
            ("/deny", "已登记"),
        ],
    )
    match = LEAD_ID.search(reply)
    assert match, reply
    return match.group()


async def intake_pudong(assistant: Assistant) -> str:
    resident = Resident(assistant, "pudong-resident")
    reply = await drive(
        resident,
        [
            ("我一个人住浦东新区花木街道,六十八岁,没有收入", "救助"),
            ("没有", "最需要"),
            ("生活费不够", "多急"),
            ("非常急", "电话"),
            (f"{PUDONG_PHONE} 我姓李", "对吗"),
            ("/affirm", "同意"),
            ("/affirm", "慈善"),
            ("/deny", "已登记"),
        ],
    )
    match = LEAD_ID.search(reply)
    assert match, reply
    return match.group()


async def crisis(assistant: Assistant) -> str:
    reply = await Resident(assistant, "crisis-resident").say("我不想活了")
    assert "12356" in reply
    match = LEAD_ID.search(reply)
    assert match, reply
    return match.group()


@pytest.fixture
async def world(
    aiohttp_client: AiohttpClient, settings: Settings, any_db_assistant: Assistant
) -> World:
    assistant = any_db_assistant
    tokens: dict[str, str] = {}
    for name, role, district in [
        ("cw_changning", "caseworker", "长宁区"),
        ("cw_changning_2", "caseworker", "长宁区"),
        ("cw_pudong", "caseworker", "浦东新区"),
        ("supervisor", "supervisor", None),
        ("hotline", "hotline", None),
    ]:
        _user, tokens[name] = await add_user(assistant.sessions, name, role, district)
    changning = await intake_changning(assistant)
    pudong = await intake_pudong(assistant)
    crisis_id = await crisis(assistant)
    # ``settings`` is only stored by the app; the assistant (and its database) is the fixture's.
    client = await aiohttp_client(await create_app(settings, assistant=assistant))
    return World(client, tokens, changning, pudong, crisis_id)


# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "not-a-token"},
    ],
)
async def test_no_or_invalid_token_is_401(world: World, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/v1/leads"),
        ("GET", f"/api/v1/leads/{world.changning}"),
        ("POST", f"/api/v1/leads/{world.changning}/claim"),
        ("POST", f"/api/v1/leads/{world.changning}/status"),
        ("POST", f"/api/v1/leads/{world.changning}/notes"),
    ]:
        resp = await world.client.request(method, path, headers=headers, json={})
        assert_error(resp.status, await _json(resp), 401)
    # Nothing was claimed by the refused requests.
    assert (await world.detail("supervisor", world.changning))["status"] == "new"


async def test_token_of_a_valid_user_in_another_scheme_is_refused(world: World) -> None:
    token = world.tokens["cw_changning"]
    resp = await world.client.get("/api/v1/leads", headers={"Authorization": f"Token {token}"})
    assert_error(resp.status, await _json(resp), 401)


async def test_hotline_account_may_not_read_leads(world: World) -> None:
    status, body = await world.get("hotline", "/api/v1/leads")
    assert_error(status, body, 403)


# -- listing --------------------------------------------------------------------------------


async def test_caseworker_lists_own_district_and_crisis_only(world: World) -> None:
    ids = [lead["id"] for lead in await world.listing("cw_changning")]
    assert world.changning in ids
    assert world.crisis in ids, "crisis leads without a district are visible to everyone"
    assert world.pudong not in ids

    pudong_ids = [lead["id"] for lead in await world.listing("cw_pudong")]
    assert world.pudong in pudong_ids
    assert world.crisis in pudong_ids
    assert world.changning not in pudong_ids

    everything = [lead["id"] for lead in await world.listing("supervisor")]
    assert set(everything) == {world.changning, world.pudong, world.crisis}


async def test_crisis_lead_comes_first(world: World) -> None:
    for user in ("cw_changning", "cw_pudong", "supervisor"):
        leads = await world.listing(user)
        assert leads[0]["id"] == world.crisis
        assert leads[0]["priority"] == 1
        assert leads[0]["region"]["district"] is None
        priorities = [lead["priority"] for lead in leads]
        assert priorities == sorted(priorities), "most urgent priority first"


async def test_phone_is_masked_in_the_list(world: World) -> None:
    resp = await world.client.get("/api/v1/leads", headers=world.auth("supervisor"))
    raw = await resp.text()
    assert resp.status == 200
    assert CHANGNING_PHONE not in raw, "the whole phone number must not appear in a list"
    assert PUDONG_PHONE not in raw
    leads = {lead["id"]: lead for lead in json.loads(raw)["leads"]}
    assert leads[world.changning]["contact"]["phone"] == "138****5678"
    assert leads[world.pudong]["contact"]["phone"] == "139****5678"
    assert leads[world.crisis]["contact"]["phone"] is None


async def test_phone_is_masked_in_detail_for_non_assignee(world: World) -> None:
    resp = await world.client.get(
        f"/api/v1/leads/{world.changning}", headers=world.auth("cw_changning")
    )
    raw = await resp.text()
    assert resp.status == 200
    assert CHANGNING_PHONE not in raw
    assert json.loads(raw)["contact"]["phone"] == "138****5678"


async def test_lead_of_other_district_is_404(world: World) -> None:
    status, body = await world.get("cw_changning", f"/api/v1/leads/{world.pudong}")
    assert_error(status, body, 404)
    status, body = await world.get("cw_pudong", f"/api/v1/leads/{world.changning}")
    assert_error(status, body, 404)
    # Nor may it be claimed, annotated or moved.
    status, body = await world.post("cw_changning", f"/api/v1/leads/{world.pudong}/claim")
    assert_error(status, body, 404)
    status, body = await world.post(
        "cw_changning", f"/api/v1/leads/{world.pudong}/notes", {"text": "看看"}
    )
    assert_error(status, body, 404)
    status, body = await world.post(
        "cw_changning", f"/api/v1/leads/{world.pudong}/status", {"status": "rejected"}
    )
    assert_error(status, body, 404)
    assert (await world.detail("supervisor", world.pudong))["status"] == "new"


async def test_unknown_lead_is_404(world: World) -> None:
    status, body = await world.get("supervisor", "/api/v1/leads/L-19990101-9999")
    assert_error(status, body, 404)


async def test_filters(world: World) -> None:
    everything = await world.listing("supervisor", status="new")
    assert {lead["id"] for lead in everything} == {world.changning, world.pudong, world.crisis}
    assert await world.listing("supervisor", status="claimed") == []

    crisis_only = await world.listing("supervisor", priority="1")
    assert [lead["id"] for lead in crisis_only] == [world.crisis]
    for priority in ("2", "3", "4"):
        for lead in await world.listing("supervisor", priority=priority):
            assert lead["priority"] == int(priority)

    pudong = await world.listing("supervisor", district="浦东新区")
    assert [lead["id"] for lead in pudong] == [world.pudong]

    status, _ = await world.post("cw_changning", f"/api/v1/leads/{world.changning}/claim")
    assert status == 200
    claimed = await world.listing("supervisor", status="claimed")
    assert [lead["id"] for lead in claimed] == [world.changning]
    mine = await world.listing("cw_changning", assignee="cw_changning")
    assert [lead["id"] for lead in mine] == [world.changning]
    assert world.changning not in {
        lead["id"] for lead in await world.listing("supervisor", status="new")
    }


async def test_paging(world: World) -> None:
    first = await world.listing("supervisor", limit="1")
    second = await world.listing("supervisor", limit="1", offset="1")
    assert len(first) == 1
    assert len(second) == 1
    assert first[0]["id"] == world.crisis
    assert second[0]["id"] != world.crisis


@pytest.mark.parametrize(
    "value", ["0", "5", "-1", "abc", "1.5", "", " 1", "1e1", "99999999999999999999"]
)
async def test_bad_priority_is_400(world: World, value: str) -> None:
    status, body = await world.get("cw_changning", "/api/v1/leads", priority=value)
    assert_error(status, body, 400)


@pytest.mark.parametrize("param", ["priority", "limit", "offset"])
async def test_unicode_digit_query_values_are_400_not_500(world: World, param: str) -> None:
    """'²'.isdigit() is True but int('²') raises: the API must still answer 400."""
    status, body = await world.get("cw_changning", "/api/v1/leads", **{param: "²"})
    assert_error(status, body, 400)


@pytest.mark.parametrize(
    "params", [{"status": "open"}, {"status": "NEW"}, {"limit": "0"}, {"limit": "100000"}]
)
async def test_bad_list_parameters_are_400(world: World, params: dict[str, str]) -> None:
    status, body = await world.get("cw_changning", "/api/v1/leads", **params)
    assert_error(status, body, 400)


# -- claiming -------------------------------------------------------------------------------


async def test_concurrent_claims_one_wins(world: World) -> None:
    path = f"/api/v1/leads/{world.changning}/claim"
    results = await asyncio.gather(
        world.post("cw_changning", path), world.post("cw_changning_2", path)
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results

    winner = "cw_changning" if results[0][0] == 200 else "cw_changning_2"
    loser = "cw_changning_2" if winner == "cw_changning" else "cw_changning"
    won_body = next(body for status, body in results if status == 200)
    lost_body = next(body for status, body in results if status == 409)
    assert won_body["status"] == "claimed"
    assert won_body["assignee"] == winner
    assert_error(409, lost_body, 409)

    mine = await world.detail(winner, world.changning)
    assert mine["assignee"] == winner
    assert mine["status"] == "claimed"
    assert mine["contact"]["phone"] == CHANGNING_PHONE, "the assignee sees the whole phone"

    theirs = await world.detail(loser, world.changning)
    assert theirs["assignee"] == winner
    assert theirs["contact"]["phone"] == "138****5678"
    supervisor = await world.detail("supervisor", world.changning)
    assert supervisor["contact"]["phone"] == "138****5678"

    # The assignee's list is still masked: only the detail view shows the number.
    listed = {lead["id"]: lead for lead in await world.listing(winner)}
    assert listed[world.changning]["contact"]["phone"] == "138****5678"

    # A later claim by anyone, even the assignee, is refused.
    status, body = await world.post(loser, path)
    assert_error(status, body, 409)
    status, body = await world.post(winner, path)
    assert_error(status, body, 409)


async def test_two_caseworkers_of_other_districts_can_claim_the_crisis_lead_once(
    world: World,
) -> None:
    path = f"/api/v1/leads/{world.crisis}/claim"
    results = await asyncio.gather(world.post("cw_changning", path), world.post("cw_pudong", path))
    assert sorted(status for status, _ in results) == [200, 409], results


# -- status ---------------------------------------------------------------------------------


async def test_status_transitions(world: World) -> None:
    path = f"/api/v1/leads/{world.changning}/status"

    async def current() -> tuple[str, str | None]:
        lead = await world.detail("supervisor", world.changning)
        return lead["status"], lead["assignee"]

    status, body = await world.post("cw_changning", path, {"status": "contacted"})
    assert_error(status, body, 409)  # new -> contacted skips the claim
    status, body = await world.post("cw_changning", path, {"status": "finished"})
    assert_error(status, body, 400)  # not a status at all
    status, body = await world.post("cw_changning", path, {})
    assert_error(status, body, 400)
    assert await current() == ("new", None), "a refused change must change nothing"

    status, _ = await world.post("cw_changning", f"/api/v1/leads/{world.changning}/claim")
    assert status == 200
    assert await current() == ("claimed", "cw_changning")

    status, body = await world.post("cw_changning_2", path, {"status": "closed"})
    assert_error(status, body, 403)  # someone else's lead
    assert await current() == ("claimed", "cw_changning")

    status, body = await world.post(
        "cw_changning", path, {"status": "contacted", "note": "已电话联系,约周三上门"}
    )
    assert status == 200, body
    assert body["status"] == "contacted"
    assert body["contact"]["phone"] == CHANGNING_PHONE

    status, body = await world.post("cw_changning", path, {"status": "new"})
    assert_error(status, body, 409)  # contacted -> new is not allowed
    assert await current() == ("contacted", "cw_changning")

    status, body = await world.post("cw_changning", path, {"status": "closed"})
    assert status == 200, body
    assert body["status"] == "closed"
    status, body = await world.post("cw_changning", path, {"status": "contacted"})
    assert_error(status, body, 409)  # closed is final

    lead = await world.detail("cw_changning", world.changning)
    assert lead["status"] == "closed"
    assert any("已电话联系,约周三上门" in note["text"] for note in lead["notes"])


async def test_releasing_a_claim_makes_the_lead_claimable_again(world: World) -> None:
    base = f"/api/v1/leads/{world.changning}"
    assert (await world.post("cw_changning", f"{base}/claim"))[0] == 200
    status, body = await world.post("cw_changning", f"{base}/status", {"status": "new"})
    assert status == 200, body
    assert body["status"] == "new" and body["assignee"] is None
    released = await world.detail("supervisor", world.changning)
    assert released["status"] == "new" and released["assignee"] is None
    status, body = await world.post("cw_changning_2", f"{base}/claim")
    assert status == 200, body
    assert body["assignee"] == "cw_changning_2"


# -- notes ----------------------------------------------------------------------------------


async def test_notes_are_added_and_shown_in_detail(world: World) -> None:
    path = f"/api/v1/leads/{world.changning}/notes"
    status, body = await world.post("cw_changning", path, {"text": "  老人耳背,电话要大声说  "})
    assert status in (200, 201), body
    assert body["author"] == "cw_changning"

    lead = await world.detail("cw_changning_2", world.changning)
    notes = lead["notes"]
    assert [n["text"] for n in notes if n["author"] == "cw_changning"] == ["老人耳背,电话要大声说"]
    for note in notes:
        assert ISO_CHINA.match(note["created_at"]), note

    for bad in ({}, {"text": ""}, {"text": "   "}, {"text": ["x"]}):
        status, body = await world.post("cw_changning", path, bad)
        assert_error(status, body, 400)


async def test_control_characters_in_notes_are_stored_without_them(world: World) -> None:
    """Notes are free text a client sends: a NUL byte must not become a database error.

    PostgreSQL refuses NUL in text. The note is not refused for it either: nothing a
    caseworker typed is lost, the NUL is stored as a space (``nlu.normalize.storable``).
    """
    base = f"/api/v1/leads/{world.changning}"
    status, body = await world.post("cw_changning", f"{base}/notes", {"text": "上门\x00未遇"})
    assert status == 201, body
    assert body["text"] == "上门 未遇"
    assert (await world.post("cw_changning", f"{base}/claim"))[0] == 200
    status, body = await world.post(
        "cw_changning", f"{base}/status", {"status": "contacted", "note": "已联系\x00"}
    )
    assert status == 200, body
    assert body["status"] == "contacted"
    lead = await world.detail("cw_changning", world.changning)
    assert lead["status"] == "contacted"
    texts = [note["text"] for note in lead["notes"]]
    assert "上门 未遇" in texts
    assert any(text.endswith("已联系 ") for text in texts), texts
    assert not any("\x00" in text for text in texts)


# -- the lead JSON (§5) -----------------------------------------------------------------------


async def test_lead_json_has_every_contract_key(world: World) -> None:
    for lead in await world.listing("supervisor"):
        assert set(lead) >= CONTRACT_KEYS, CONTRACT_KEYS - set(lead)
    for lead_id in (world.changning, world.pudong, world.crisis):
        lead = await world.detail("supervisor", lead_id)
        missing = CONTRACT_KEYS - set(lead)
        assert not missing, missing
        assert lead["id"] == lead_id
        assert LEAD_ID.fullmatch(lead["id"])
        assert ISO_CHINA.match(lead["created_at"])
        assert ISO_CHINA.match(lead["due_at"])
        assert lead["due_at"] > lead["created_at"]
        assert lead["channel"] == "rest"
        assert lead["conversation_id"]
        assert lead["status"] == "new"
        assert lead["priority"] in (1, 2, 3, 4)
        assert lead["assignee"] is None
        assert set(lead["region"]) >= {"district", "street"}
        assert set(lead["contact"]) >= {"name", "phone"}
        assert isinstance(lead["household"], dict)
        assert isinstance(lead["current_assistance"], list)
        assert set(lead["current_assistance"]) <= POLICY_IDS
        for need in lead["needs"]:
            assert need["category"] in NEED_CATEGORIES
            assert isinstance(need["detail"], str)
        assert set(lead["tier_3a"]) <= {"assistance", "accompany", "advancement"}
        assert lead["target_class"] in {"missing", "insufficient", "warning"}
        assert set(lead["candidate_policies"]) <= POLICY_IDS
        assert set(lead["consent"]) >= {"caseworker", "charity", "recorded_at"}
        assert isinstance(lead["summary"], str)
        assert lead["summary"].strip()


async def test_lead_json_carries_what_the_resident_said(world: World) -> None:
    lead = await world.detail("supervisor", world.changning)
    assert lead["region"] == {"district": "长宁区", "street": "新华路街道"}
    assert "王" in lead["contact"]["name"]
    assert lead["household"]["size"] == 2
    assert 2000 <= lead["income_monthly"] < 3000
    assert lead["current_assistance"] == []
    assert "medical" in {n["category"] for n in lead["needs"]}
    assert "yiliao" in lead["candidate_policies"]
    assert lead["target_class"] == "missing"
    assert lead["consent"]["caseworker"] is True
    assert lead["consent"]["charity"] is False
    assert CHANGNING_PHONE not in lead["summary"]

    pudong = await world.detail("supervisor", world.pudong)
    assert pudong["region"]["district"] == "浦东新区"
    assert pudong["household"]["size"] == 1
    assert "basic_living" in {n["category"] for n in pudong["needs"]}
    assert pudong["priority"] < lead["priority"], "非常急 is more urgent than 比较急"

    crisis_lead = await world.detail("supervisor", world.crisis)
    assert crisis_lead["priority"] == 1
    assert crisis_lead["region"]["district"] is None
