"""Issue 6: the scripted residents of tests/data/residents, end to end over the REST webhook.

Each resident sends their opening messages, then answers whichever question of the
self-report the assistant asks with the scripted answer for that slot, says yes to the
summary, consents to the caseworker, declines the charity, and the lead in the database is
checked against the resident's ``expect``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy import select

from bot.assembly import Assistant
from bot.config import Settings
from bot.storage.lead_sink import find_lead
from bot.storage.models import Lead
from bot.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
RESIDENTS_FILE = ROOT / "tests" / "data" / "residents" / "residents.yml"
INTAKE_FILE = ROOT / "dialogues" / "flows" / "intake.yml"

WEBHOOK = "/webhooks/rest/webhook"
LEAD_ID = re.compile(r"L-\d{8}-\d{4}")
MAX_MESSAGES = 20
POSTED_MARKERS = ("编号 L-", "已记录,编号")
CONFIRM_MARKER = "对吗"
CASEWORKER_MARKER = "同意把这份登记交给"
CHARITY_MARKER = "分享给正规慈善组织"
IGNORED_CONDITIONS = {"elderly_alone"}

RESIDENTS: list[dict[str, Any]] = yaml.safe_load(RESIDENTS_FILE.read_text(encoding="utf-8"))


def _question_markers() -> list[tuple[str, str]]:
    """(slot name, text that shows the slot is being asked).

    The question up to its first ? or placeholder, and the slot's example: after two answers
    that were not understood the assistant shows the example (and offers to skip) instead of
    the question, which is asking the same question once more.
    """
    flow = yaml.safe_load(INTAKE_FILE.read_text(encoding="utf-8"))
    markers: list[tuple[str, str]] = []
    for slot in flow["slots"]:
        question = re.split(r"[??{]", slot["question"], maxsplit=1)[0].strip()
        assert len(question) >= 4, f"question of {slot['name']} too short to recognise"
        markers.append((slot["name"], question))
        if slot.get("example") and "{" not in slot["example"]:
            markers.append((slot["name"], slot["example"].strip()))
    return markers


QUESTIONS = _question_markers()


class Conversation:
    """One resident talking through the webhook; keeps a readable transcript."""

    def __init__(self, client: TestClient[Any, Any], sender: str):
        self.client = client
        self.sender = sender
        self.replies: list[dict[str, Any]] = []
        self.lines: list[str] = []

    async def send(self, message: str, shown: str | None = None) -> str:
        self.lines.append(f"  居民: {shown or message}")
        resp = await self.client.post(WEBHOOK, json={"sender": self.sender, "message": message})
        assert resp.status == 200, f"{self.sender}: HTTP {resp.status}\n{await resp.text()}"
        self.replies = await resp.json()
        for reply in self.replies:
            self.lines.append("  助手: " + reply.get("text", "").replace("\n", "\n        "))
            titles = [b["title"] for b in reply.get("buttons", [])]
            if titles:
                self.lines.append(f"        [{' | '.join(titles)}]")
        return self.text

    @property
    def text(self) -> str:
        return "\n".join(r.get("text", "") for r in self.replies)

    async def press(self, title_part: str, exact: bool = False) -> str:
        buttons = [b for r in self.replies for b in r.get("buttons", [])]
        matches = [
            b for b in buttons if (b["title"] == title_part if exact else title_part in b["title"])
        ]
        assert matches, (
            f"{self.sender}: no button {title_part!r} in {buttons}\n{self.transcript()}"
        )
        return await self.send(matches[0]["payload"], f"[按 {matches[0]['title']}]")

    def transcript(self) -> str:
        return "\n".join(self.lines)


def step_of(text: str) -> tuple[int, str] | None:
    """What the assistant is asking in ``text`` and where: a slot name or a confirm/consent step.

    When several are present, the one shown last is what is being asked now.
    """
    found: list[tuple[int, str]] = []
    for slot, marker in QUESTIONS:
        at = text.rfind(marker)
        if at >= 0:
            found.append((at, slot))
    for step, marker in (
        ("confirm", CONFIRM_MARKER),
        ("consent_caseworker", CASEWORKER_MARKER),
        # Outside the regions we serve the same questions are worded without a caseworker.
        ("consent_caseworker", "同意把这份登记保存下来"),
        ("phone", "方便的话留一个联系电话"),
        ("consent_charity", CHARITY_MARKER),
    ):
        at = text.rfind(marker)
        if at >= 0:
            found.append((at, step))
    return max(found) if found else None


def posted_at(text: str) -> int:
    """Where ``text`` reports a lead id (-1 if it does not)."""
    return max(text.rfind(marker) for marker in POSTED_MARKERS)


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, assistant: Assistant
) -> TestClient[Any, Any]:
    return await aiohttp_client(await create_app(settings, assistant=assistant))


async def play(conversation: Conversation, resident: dict[str, Any]) -> str:
    """Play the resident's script; returns the reply that carries the lead id."""
    rid = resident["id"]
    answers: dict[str, str] = resident["answers"]
    for message in resident["opening"]:
        await conversation.send(message)

    asked: list[str] = []
    for _ in range(MAX_MESSAGES):
        text = conversation.text
        asking = step_of(text)
        posted = posted_at(text)
        # A crisis lead is reported ("已把您补充的信息加到紧急登记(编号 L-…)") while the
        # report goes on; the conversation is over when no question follows the lead id.
        if posted >= 0 and (asking is None or asking[0] < posted):
            return text
        if asking is None and not asked:
            # A question answered with an offer to register: the resident takes it, as
            # people do ("帮我登记" / "整理我的情况" / "登记我的情况").
            titles = [b["title"] for r in conversation.replies for b in r.get("buttons", [])]
            offer = next((t for t in titles if "登记" in t or "整理我的情况" in t), None)
            if offer is not None:
                await conversation.press(offer, exact=True)
                asked.append("offer")
                continue
        assert asking is not None, (
            f"{rid}: the assistant is not asking a question of the report (a slot, 对吗 or a "
            "consent), so the script has nothing to answer\n"
            f"{conversation.transcript()}"
        )
        step = asking[1]
        asked.append(step)
        if asked[-3:] == [step] * 3:
            pytest.fail(f"{rid}: asked {step!r} three times in a row\n{conversation.transcript()}")
        if step == "confirm":
            await conversation.press("对")
        elif step == "consent_caseworker":
            await conversation.press("同意", exact=True)
        elif step == "consent_charity":
            await conversation.press("不同意", exact=True)
        else:
            await conversation.send(answers.get(step, "不知道"))
    text = conversation.text
    asking = step_of(text)
    if posted_at(text) >= 0 and (asking is None or asking[0] < posted_at(text)):
        return text
    pytest.fail(f"{rid}: no lead after {MAX_MESSAGES} messages\n{conversation.transcript()}")


# Residents whose report still comes out wrong (issue 6 is not finished: see the closing
# note). Strict: one that starts passing fails the run until it is taken off this list.
NOT_YET_UNDERSTOOD: frozenset[str] = frozenset()


def _cases() -> list[Any]:
    return [
        pytest.param(
            r,
            id=r["id"],
            marks=[pytest.mark.xfail(strict=True, reason="not yet understood")]
            if r["id"] in NOT_YET_UNDERSTOOD
            else [],
        )
        for r in RESIDENTS
    ]


@pytest.mark.parametrize("resident", _cases())
async def test_resident_end_to_end(
    client: TestClient[Any, Any], assistant: Assistant, resident: dict[str, Any]
) -> None:
    rid = resident["id"]
    conversation = Conversation(client, f"issue6-{rid}")
    posted = await play(conversation, resident)

    match = LEAD_ID.search(posted)
    async with assistant.sessions() as session:
        if match:
            lead = await find_lead(session, match.group())
        else:
            lead = (await session.scalars(select(Lead).order_by(Lead.seq.desc()))).first()
    where = f"{rid}\n{conversation.transcript()}"
    assert lead is not None, f"{rid}: no lead in the database\n{where}"

    expect = resident["expect"]
    household = lead.data.get("household") or {}
    members = household.get("members") or []
    conditions = {c for m in members for c in m.get("conditions") or []} - IGNORED_CONDITIONS
    needs = {n["category"] for n in lead.data.get("needs") or []}
    got = {
        "district": lead.district,
        "household_size": household.get("size"),
        "conditions": sorted(conditions),
        "needs": sorted(needs),
        "priority": lead.priority,
        "target_class": lead.data.get("target_class"),
    }
    wrong: list[str] = []
    if expect["district"] is None:
        if assistant.brain.kb.place(lead.district) is not None:
            wrong.append(f"district: expected outside the regions, got {lead.district!r}")
    elif lead.district != expect["district"]:
        wrong.append(f"district: expected {expect['district']!r}, got {lead.district!r}")
    if household.get("size") != expect["household_size"]:
        wrong.append(
            f"household_size: expected {expect['household_size']}, got {household.get('size')}"
        )
    expected_conditions = set(expect["conditions"]) - IGNORED_CONDITIONS
    if conditions != expected_conditions:
        wrong.append(
            f"conditions: expected {sorted(expected_conditions)}, got {sorted(conditions)}"
        )
    if not set(expect["needs"]) <= needs:
        wrong.append(f"needs: expected at least {sorted(expect['needs'])}, got {sorted(needs)}")
    if lead.priority != expect["priority"]:
        wrong.append(f"priority: expected {expect['priority']}, got {lead.priority}")
    if lead.data.get("target_class") != expect["target_class"]:
        wrong.append(
            f"target_class: expected {expect['target_class']!r}, "
            f"got {lead.data.get('target_class')!r}"
        )
    assert not wrong, (
        f"{rid}: " + "; ".join(wrong) + f"\nlead: {got}\nreasons: {lead.data.get('reasons')}\n"
        f"{where}"
    )
