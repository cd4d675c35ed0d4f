"""Policy questions, context, honesty and crisis handling, through the engine.

Tests that depend on what is stored (the conversation's context, leads, a message id seen
before) run on SQLite and on PostgreSQL (``any_db_assistant``).
"""

import pytest

from bot.assembly import Assistant
from nlu.schema import IntentScore, ParseResult
from tests.test_dialogues.helpers import Resident


async def test_answer_ends_with_its_source(assistant: Assistant) -> None:
    reply = await Resident(assistant, "q1").say("低保怎么申请")
    assert "最低生活保障" in reply
    assert "来源:《" in reply and "》" in reply


async def test_follow_up_keeps_the_policy_in_context(any_db_assistant: Assistant) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "q2")
    await resident.say("我住长宁区")
    await resident.say("低保是什么")
    reply = await resident.say("那多久复核一次?")
    assert "最低生活保障" in reply and "复核" in reply
    # 长宁's rule (knowledge/regions): 每半年 for some households, 每年 for the others.
    assert "每半年" in reply and "每年" in reply


async def test_an_aspect_first_is_answered_once_the_policy_is_named(assistant: Assistant) -> None:
    resident = Resident(assistant, "q3")
    first = await resident.say("复核多久一次")
    assert "哪一项政策" in first
    reply = await resident.say("低保")
    assert "最低生活保障" in reply and "复核" in reply


async def test_traditional_characters_get_the_same_answer(assistant: Assistant) -> None:
    simplified = await Resident(assistant, "q4a").say("临时救助怎么申请")
    traditional = await Resident(assistant, "q4b").say("臨時救助怎麼申請")
    assert simplified == traditional


async def test_unsupported_aspect_is_honest_and_points_to_the_office(assistant: Assistant) -> None:
    resident = Resident(assistant, "q5")
    await resident.say("低保怎么申请")
    reply = await resident.say("那要带什么材料?")
    assert "没有可靠的依据" in reply
    assert "12345" in reply
    assert "登记我的情况" in resident.buttons()


async def test_unknown_question_is_not_answered_with_an_invention(assistant: Assistant) -> None:
    resident = Resident(assistant, "q6")
    reply = await resident.say("公积金怎么提取?")
    assert "来源" not in reply
    assert "12345" in reply


async def test_region_changes_who_the_resident_is_told_to_contact(assistant: Assistant) -> None:
    resident = Resident(assistant, "q7")
    await resident.say("我住在遂宁船山区")
    reply = await resident.say("低保怎么申请")
    assert "社会救助经办机构" in reply
    assert "街镇社区事务受理服务中心" not in reply


async def test_crisis_is_answered_first_with_hotlines(any_db_assistant: Assistant) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "c1")
    reply = await resident.say("我真的不想活了")
    assert "12356" in reply and "120" in reply and "110" in reply
    leads = await resident.leads()
    assert len(leads) == 1 and leads[0]["priority"] == 1
    assert leads[0]["life_protection"] is True
    assert leads[0]["consent"]["caseworker"] is False


async def test_crisis_then_a_phone_number_completes_the_same_lead(
    any_db_assistant: Assistant,
) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "c2")
    await resident.say("他又打我了")
    reply = await resident.say("13912345678")
    assert "L-" in reply
    leads = await resident.leads()
    assert len(leads) == 1
    assert leads[0]["contact"]["phone"] == "13912345678"


async def test_empty_and_emoji_messages_get_a_polite_reply(assistant: Assistant) -> None:
    resident = Resident(assistant, "e1")
    assert "没有收到文字" in await resident.say("   ")
    assert await resident.say("🙂🙂🙂")


async def test_a_redelivered_message_id_is_handled_once(any_db_assistant: Assistant) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "d1")
    first = await resident.say("我老伴住院了医药费付不起", message_id="m-1")
    again = await resident.say("我老伴住院了医药费付不起", message_id="m-1")
    assert first == again
    state = await assistant.engine.store.load("rest:d1")
    assert state is not None and state["intake"]["asked"] == "place"


async def test_the_nearest_office_is_named_once_the_street_is_known(
    any_db_assistant: Assistant,
) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "street")
    await resident.say("我住长宁区新华路街道")
    reply = await resident.say("低保怎么申请")
    assert "新华路街道社区事务受理服务中心" in reply
    report = await resident.say("房租交不上了")
    assert "几口人" in report and "哪个区" not in report


async def test_everyday_idioms_are_not_a_crisis(any_db_assistant: Assistant) -> None:
    assistant = any_db_assistant
    for index, text in enumerate(["有事打我电话13812345678", "笑死我了", "打了一针疫苗胳膊疼"]):
        resident = Resident(assistant, f"idiom-{index}")
        reply = await resident.say(text)
        assert "12356" not in reply and "110" not in reply, text
    assert await Resident(assistant, "idiom-0").leads() == []


async def test_a_suspected_crisis_is_asked_about_before_a_lead_is_posted(
    any_db_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = any_db_assistant
    real_parse = assistant.engine.nlu.parse

    def unsure(text: str) -> ParseResult:
        result = real_parse(text)
        if text == "我也不知道怎么办了":
            score = IntentScore("crisis", 0.6)
            return ParseResult(text, score, result.entities, (score,))
        return result

    monkeypatch.setattr(assistant.engine.nlu, "parse", unsure)
    resident = Resident(assistant, "unsure")
    reply = await resident.say("我也不知道怎么办了")
    assert "110" in reply and "您现在有危险吗" in reply
    assert await resident.leads() == []
    cleared = await resident.press("没有危险")
    assert "没事就好" in cleared and await resident.leads() == []
    await resident.say("我也不知道怎么办了")
    confirmed = await resident.press("有危险")
    assert "L-" in confirmed
    (lead,) = await resident.leads()
    assert lead["priority"] == 1
