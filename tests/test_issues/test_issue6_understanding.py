"""Issue 6: a turn understood in context as commands, and crisis handling through the engine.

The sentences here are written for these tests: none is in the training data, the crisis
lexicon or the evaluation sets (``tests/test_data`` checks the sets stay apart).
"""

from __future__ import annotations

import time

import pytest

from bot.assembly import Assistant, Brain
from dialogues.commands import Command, kinds
from dialogues.schema import ConversationState, IntakeState
from dialogues.turn import TurnReader
from dialogues.understand import Understanding, load_policy
from tests.test_dialogues.helpers import Resident


@pytest.fixture(scope="module")
def understand(brain: Brain):  # type: ignore[no-untyped-def]
    reader = TurnReader(brain.nlu, brain.kb, brain.rules, brain.content)
    understanding = Understanding(load_policy(), brain.content.flow)

    def run(state: ConversationState, text: str) -> list[Command]:
        now = time.time()
        return understanding.understand(state, reader.read(text, state), now)

    return run


def fresh() -> ConversationState:
    return ConversationState(key="t", channel="t", sender="t")


def asked(slot: str, **slots: object) -> ConversationState:
    state = fresh()
    state.intake = IntakeState(id="t", asked=slot, slots=dict(slots))
    return state


def slot(commands: list[Command], name: str) -> object:
    return next((c.value for c in commands if c.slot == name), None)


def test_a_place_alone_is_a_place_not_a_donation(understand) -> None:  # type: ignore[no-untyped-def]
    commands = understand(fresh(), "俺老家是山西大同的")
    assert kinds(commands) == ["set_slot"]
    place = slot(commands, "place")
    assert isinstance(place, dict) and place["province"] == "山西省" and place["city"] == "大同市"


def test_a_plea_with_a_hardship_starts_a_report(understand) -> None:  # type: ignore[no-untyped-def]
    commands = understand(fresh(), "厂子关门半年了 房贷还不上 求求你们帮帮我们家")
    assert "start_report" in kinds(commands)


def test_a_cancel_said_twice_with_a_reason_cancels(understand) -> None:  # type: ignore[no-untyped-def]
    assert kinds(understand(asked("income"), "不填了不填了 麻烦")) == ["cancel"]


def test_a_correction_replaces_the_household(understand) -> None:  # type: ignore[no-untyped-def]
    state = asked("income", household={"size": 3, "members": []})
    commands = understand(state, "刚才说错了 家里就我妈一个人")
    assert kinds(commands) == ["correct_slot"]
    household = slot(commands, "household")
    assert isinstance(household, dict) and household["size"] == 1


def test_not_that_urgent_is_not_urgent(understand) -> None:  # type: ignore[no-untyped-def]
    assert slot(understand(asked("urgency"), "其实也没那么着急"), "urgency") == "later"


def test_a_yearly_income_becomes_monthly(understand) -> None:  # type: ignore[no-untyped-def]
    assert slot(understand(asked("income"), "一年到头也就卖猪挣个一万二"), "income") == 1000


def test_a_typo_of_a_policy_is_a_policy_question(understand) -> None:  # type: ignore[no-untyped-def]
    commands = understand(fresh(), "临死救助找哪个部门")
    assert kinds(commands) == ["answer_policy"] and commands[0].policy == "linshi"


def test_a_follow_up_question_stays_with_the_policy(understand) -> None:  # type: ignore[no-untyped-def]
    state = fresh()
    state.policy = "binzang"
    commands = understand(state, "那骨灰盒的钱能给报不")
    assert kinds(commands) == ["answer_policy"] and commands[0].policy == "binzang"


def test_a_relative_asking_is_not_a_member(understand) -> None:  # type: ignore[no-untyped-def]
    household = slot(
        understand(asked("household"), "替我姥爷问的 他一个人住在村里 八十六了"), "household"
    )
    assert isinstance(household, dict) and household.get("size") == 1
    assert [m["relation"] for m in household["members"]] == ["grandparent"]


@pytest.mark.parametrize(
    "text",
    [
        "欠的钱这辈子都还不上了 药我已经攒够了 今晚就结束吧",
        "他喝了酒拎着斧头在门口转 我带着孩子躲进了邻居家",
        "刚被房东撵出来 行李都在路边 今晚不知道去哪过夜",
        "我妈突然倒在地上 怎么喊都不应",
    ],
)
async def test_danger_inside_a_story_posts_a_priority_one_lead(
    assistant: Assistant, text: str
) -> None:
    resident = Resident(assistant, f"danger-{hash(text)}")
    reply = await resident.say(text)
    assert "110" in reply or "120" in reply or "12356" in reply
    leads = await resident.leads()
    assert len(leads) == 1 and leads[0]["priority"] == 1


async def test_a_violence_report_with_a_phone_keeps_both(assistant: Assistant) -> None:
    resident = Resident(assistant, "violence-phone")
    reply = await resident.say("他刚才又动手打我了 我电话13622334455")
    assert "110" in reply
    (lead,) = await resident.leads()
    assert lead["priority"] == 1 and lead["contact"]["phone"] == "13622334455"


async def test_after_a_crisis_follow_ups_stay_with_the_crisis_lead(assistant: Assistant) -> None:
    resident = Resident(assistant, "crisis-follow")
    await resident.say("他拿着刀说要砍我")
    reply = await resident.say("这个手机是借的 我现在在超市里")
    assert "紧急登记" in reply
    (lead,) = await resident.leads()
    assert "手机是借的" in lead["summary"]


@pytest.mark.parametrize(
    "text",
    [
        "外卖小哥打了三次电话我都没接到",
        "孙子踢球摔了一跤 膝盖破点皮 没啥事",
        "今天搬了一天砖 累死了",
        "打死我也想不到办个低保这么难",
    ],
)
async def test_harmless_words_that_look_dangerous_raise_nothing(
    assistant: Assistant, text: str
) -> None:
    resident = Resident(assistant, f"calm-{hash(text)}")
    reply = await resident.say(text)
    assert "110" not in reply and "您现在有危险吗" not in reply
    assert await resident.leads() == []


async def test_a_place_outside_our_regions_promises_no_caseworker(assistant: Assistant) -> None:
    resident = Resident(assistant, "outside")
    reply = await resident.say("我在贵州毕节")
    assert "贵州省毕节市" in reply and "不会有我们的工作人员" in reply


async def test_what_was_said_before_the_report_is_not_asked_again(assistant: Assistant) -> None:
    resident = Resident(assistant, "before")
    await resident.say("我住长宁区新华路街道")
    reply = await resident.press("想登记")
    assert "哪个区" not in reply


def test_an_editing_mistake_in_understanding_yml_names_the_file_and_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dialogues.errors import FlowError
    from dialogues.understand import UNDERSTANDING_FILE

    broken = tmp_path / "understanding.yml"
    text = UNDERSTANDING_FILE.read_text(encoding="utf-8")
    broken.write_text(text.replace("  plea:\n    - '", "  plea:\n    - '(", 1), encoding="utf-8")
    with pytest.raises(FlowError, match=r"understanding\.yml: words\.plea\[0\]"):
        load_policy(broken)


async def test_a_report_from_outside_our_regions_is_honest_from_the_start(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "outside-report")
    reply = await resident.say("我是甘肃定西的 老伴偏瘫在床 家里两口人 想登记一下")
    assert "甘肃省定西市" in reply and "不会有人上门" in reply
    assert "收入" in reply  # and the report goes on


async def test_a_crisis_outside_our_regions_sends_to_110_not_to_a_caseworker(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "outside-crisis")
    reply = await resident.say("我在黑龙江鹤岗 他拿着刀堵在门口")
    assert "110" in reply and "没有我们的工作人员" in reply
    assert "转给社区救助顾问" not in reply
    (lead,) = await resident.leads()
    assert lead["priority"] == 1
