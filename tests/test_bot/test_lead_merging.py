"""A report is merged only into its own conversation's lead; the same phone elsewhere is flagged.

Merging by phone told one resident another resident's lead reference (which then let them
read its status) and added their needs to a lead in another district.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from bot.assembly import Assistant
from bot.storage.lead_json import lead_json
from bot.storage.lead_sink import SqlLeadSink
from bot.storage.models import Lead, LeadNote
from dialogues.schema import LeadDraft
from tests.test_dialogues.helpers import Resident

SHARED_PHONE = "13912345678"


async def report(resident: Resident, place: str, need: str) -> str:
    await resident.report_until_consent(place, need, f"{SHARED_PHONE} 我姓李")
    await resident.press("同意")
    return await resident.say("/deny")  # no sharing with charities


def reference(reply: str) -> str:
    found = re.findall(r"L-\d{8}-\d+", reply)
    assert found, reply
    return found[-1]


async def all_leads(assistant: Assistant) -> list[Lead]:
    async with assistant.sessions() as session:
        return list((await session.scalars(select(Lead).order_by(Lead.seq))).all())


async def test_same_phone_from_another_conversation_is_a_new_lead_flagged_for_caseworkers(
    any_db_assistant: Assistant,
) -> None:
    first = reference(
        await report(Resident(any_db_assistant, "a"), "长宁区新华路街道", "看病的钱付不起")
    )
    second_reply = await report(
        Resident(any_db_assistant, "b"), "浦东新区花木街道", "孩子学费交不起"
    )
    second = reference(second_reply)
    # The second resident is told their own reference, never the first one's.
    assert second != first
    assert first not in second_reply
    leads = await all_leads(any_db_assistant)
    assert [lead.id for lead in leads] == [first, second]
    by_id = {lead.id: lead_json(lead) for lead in leads}
    # Neither lead took the other's needs or district.
    assert [n["category"] for n in by_id[first]["needs"]] == ["medical"]
    assert by_id[first]["region"]["district"] == "长宁区"
    assert "education" in [n["category"] for n in by_id[second]["needs"]]
    assert "medical" not in [n["category"] for n in by_id[second]["needs"]]
    # Each caseworker sees the other lead as a possible duplicate, and a note says why.
    assert by_id[second]["possible_duplicates"] == [first]
    assert by_id[first]["possible_duplicates"] == [second]
    async with any_db_assistant.sessions() as session:
        notes = (await session.scalars(select(LeadNote.text))).all()
    assert any(second in note and "同一电话" in note for note in notes)


async def test_the_second_resident_cannot_read_the_first_ones_status(
    any_db_assistant: Assistant,
) -> None:
    first = reference(
        await report(Resident(any_db_assistant, "a"), "长宁区新华路街道", "看病的钱付不起")
    )
    other = Resident(any_db_assistant, "b")
    await report(other, "长宁区新华路街道", "房租交不起")
    reply = await other.say("我的登记办得怎么样了")
    assert first not in reply


def draft(conversation: str, key: str) -> LeadDraft:
    return LeadDraft(
        idempotency_key=key,
        channel="rest",
        conversation_id=conversation,
        priority=3,
        due_hours=72,
        region={"district": "长宁区", "street": None},
        contact={"name": "李", "phone": SHARED_PHONE},
        household={"size": 2, "members": []},
        income_monthly=0,
        current_assistance=[],
        needs=[{"category": "medical", "detail": "看病"}],
        tier_3a=["assistance"],
        target_class="missing",
        candidate_policies=["yiliao"],
        consent={"caseworker": True, "charity": False},
        summary="测试",
    )


async def test_ten_simultaneous_posts_of_one_report_make_one_lead(
    any_db_assistant: Assistant,
) -> None:
    sink = SqlLeadSink(any_db_assistant.sessions)
    posted = await asyncio.gather(*(sink.post(draft("rest:tap", "intake:tap")) for _ in range(10)))
    assert len({p.lead_id for p in posted}) == 1
    assert sum(p.created for p in posted) == 1
    assert len(await all_leads(any_db_assistant)) == 1
