"""Regressions from playing 110 residents through the engine and from code review."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.assembly import Assistant, Brain
from bot.storage.models import Lead
from dialogues.reading import read_message
from nlu.normalize import normalize
from tests.test_dialogues.helpers import Resident


@pytest.mark.parametrize(
    "text",
    [
        "想烧炭",
        "家里准备了一瓶百草枯",
        "活够了,还不如走了算了",
        "我想从这个世界消失",
        "我老伴中风了,嘴歪了说不出话",
        "我胸口疼得厉害一直出冷汗",
        "我爸煤气中毒了",
        "他喝醉了就动手,我身上都是青的",
        "孩子高烧四十度一直抽",
        "我在外地打工,孩子九岁一个人在家两天了联系不上",
        "老头子摔了一跤起不来了,地上好多血",
        "房东把我赶出来了,今晚不知道睡哪",
        "手机死了算了,我也不想活了",
    ],
)
def test_danger_is_recognised(brain: Brain, text: str) -> None:
    assert any(kind.matches(normalize(text)) for kind in brain.content.crisis_kinds), text


@pytest.mark.parametrize(
    "text",
    [
        "就打我儿子那个电话",
        "有事就打我老伴的电话",
        "催收天天打我们家电话",
        "快递员打我好几次都没接到",
        "杀了我也拿不出这么多钱",
        "他爸爸从来不打孩子的",
        "孩子打篮球被打了一下,没事",
        "我们这破手机死了算了",
        "老伴去年晕倒过一次现在好了",
    ],
)
def test_harmless_words_are_not_danger(brain: Brain, text: str) -> None:
    assert not any(kind.matches(normalize(text)) for kind in brain.content.crisis_kinds), text


async def test_a_crisis_lead_is_completed_by_what_comes_next(assistant: Assistant) -> None:
    resident = Resident(assistant, "crisis-after")
    await resident.say("我真的撑不下去了,活着一点意思都没有")
    await resident.say("我在长宁区北新泾街道")
    reply = await resident.say("13800138000")
    assert "紧急登记" in reply
    (lead,) = await resident.leads()
    assert lead["contact"]["phone"] == "13800138000"
    assert lead["region"]["district"] == "长宁区"
    assert lead["summary"].startswith("【自伤自杀风险】")
    assert lead["needs"][0]["category"] == "psychological"


async def test_a_new_crisis_after_a_closed_one_alerts_again(assistant: Assistant) -> None:
    resident = Resident(assistant, "crisis-twice")
    await resident.say("他又打我了")
    async with assistant.sessions() as session, session.begin():
        await session.execute(update(Lead).values(status="closed"))
    reply = await resident.say("他又来打我了,拿着刀")
    assert "L-" in reply
    leads = await resident.leads()
    assert [lead["status"] for lead in leads] == ["closed", "new"]


async def test_typed_consent_and_double_taps(assistant: Assistant) -> None:
    resident = Resident(assistant, "consent")
    await resident.say("我和老伴两个人住长宁区新华路街道,每月两千")
    await resident.say("没有")
    await resident.say("看病的钱")
    await resident.say("比较急")
    await resident.say("13812345678")
    confirm = resident.buttons()["对,没问题"]
    await resident.say(confirm)
    again = await resident.say(confirm)  # the same button tapped twice
    assert "已经答过了" in again
    assert "社区救助顾问吗" in resident.replies[-1].text  # still asking consent (1)
    charity = await resident.say("我改主意了,还是登记吧")
    assert "慈善" in charity
    await resident.say("不同意")
    (lead,) = await resident.leads()
    assert lead["consent"]["caseworker"] is True and lead["consent"]["charity"] is False


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("两口人,我和我爸,我爸八十二岁", [("self", None), ("parent", 82)]),
        ("我和儿子两个,我三十八,儿子十五岁", [("self", 38), ("child", 15)]),
        (
            "三個人,我、老婆和兒子,兒子十二歲讀書",
            [("self", None), ("spouse", None), ("child", 12)],
        ),
        (
            "我带着两个孙子过,我六十七,孙子一个十岁一个七岁",
            [("self", 67), ("grandchild", 10), ("grandchild", 7)],
        ),
        ("老伴前年走了,我一个人住", [("self", None)]),
        ("一个人,六十六", [("self", 66)]),
    ],
)
def test_household_members_are_who_was_named(
    brain: Brain, text: str, members: list[tuple[str, int | None]]
) -> None:
    reading = read_message(brain.nlu.parse(text), brain.rules, "household")
    household = reading.values["household"]
    assert [(m["relation"], m["age"]) for m in household["members"]] == members
    assert household["size"] == len(members)


@pytest.mark.parametrize(
    ("text", "income"),
    [
        ("我退休金两千八,老伴一千五", 4300),
        ("一个月就几百块钱", 100),
        ("每月一千二三", 1200),
        ("两千,不对,是两千五", 2500),
    ],
)
def test_income_as_residents_say_it(brain: Brain, text: str, income: int) -> None:
    reading = read_message(brain.nlu.parse(text), brain.rules, "income")
    assert reading.values["income"] == income


async def test_a_need_said_in_passing_does_not_skip_the_needs_question(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "passing")
    await resident.say("我要登记")
    await resident.say("长宁区天山路街道")
    await resident.say("三个人,我失业了")
    await resident.say("没有收入")
    asked = await resident.say("没有")
    assert "最需要帮的是什么" in asked
    await resident.say("房租交不上了")
    await resident.say("非常急")
    await resident.say("13700001111")
    await resident.press("对")
    await resident.press("同意")
    await resident.say("/deny")
    (lead,) = await resident.leads()
    assert {n["category"] for n in lead["needs"]} == {"housing", "employment"}


async def test_a_question_about_a_need_is_answered_not_turned_into_a_report(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "question")
    reply = await resident.say("孩子上大学学费交不起有什么救助?")
    assert "教育救助" in reply and "以审核为准" in reply
    assert "帮我登记" in resident.buttons()
    state = await assistant.engine.store.load("rest:question")
    assert state is not None and state["intake"] is None


async def test_short_follow_ups_and_typos(assistant: Assistant) -> None:
    resident = Resident(assistant, "follow")
    await resident.say("特困供养是什么")
    reply = await resident.say("申请条件呢")
    assert "特困人员救助供养·申请条件" in reply
    typo = await Resident(assistant, "typo").say("特因供养是什么")
    assert "特困人员救助供养" in typo


async def test_a_place_alone_is_acknowledged(assistant: Assistant) -> None:
    reply = await Resident(assistant, "place").say("我住浦东新区川沙新镇")
    assert "浦东新区川沙新镇" in reply


async def test_a_phone_taken_back_is_not_posted(assistant: Assistant) -> None:
    resident = Resident(assistant, "retract")
    await resident.say("长宁区新华路街道,两个人,每月两千")
    await resident.say("没有")
    await resident.say("看病的钱")
    await resident.say("比较急")
    await resident.say("13812345678")
    await resident.say("返回上一步")
    await resident.say("不想说")
    await resident.press("对")
    await resident.press("同意")
    await resident.say("/deny")
    (lead,) = await resident.leads()
    assert lead["contact"]["phone"] is None


@pytest.mark.parametrize(
    "text", ["要登记", "我想登記一下家裡的困難", "帮我登记一下吧", "我要求助"]
)
async def test_asking_to_register_starts_the_report(assistant: Assistant, text: str) -> None:
    reply = await Resident(assistant, f"start-{text}").say(text)
    assert "哪个区" in reply, reply


async def test_wanting_a_job_is_a_need_not_a_request_for_a_person(assistant: Assistant) -> None:
    resident = Resident(assistant, "job")
    await resident.say("我要登记")
    await resident.say("长宁区天山路街道")
    await resident.say("就我一个,四十五岁")
    await resident.say("没有收入")
    await resident.say("没有")
    reply = await resident.say("想找个工作")
    assert "转到人工" not in reply and "多急" in reply
    await resident.say("不急")
    summary = await resident.say("62581234")  # a local landline, asked for a phone
    assert "就业" in summary and "对吗" in summary


def test_a_five_person_household_with_bare_ages(brain: Brain) -> None:
    text = "五口人:我45、老公47有尿毒症、儿子18、女儿12、婆婆75"
    household = read_message(brain.nlu.parse(text), brain.rules, "household").values["household"]
    assert [(m["relation"], m["age"]) for m in household["members"]] == [
        ("self", 45),
        ("spouse", 47),
        ("child", 18),
        ("child", 12),
        ("parent", 75),  # in-laws live with the family as parents (issue 6)
    ]
    assert household["members"][1]["conditions"] == ["serious_illness"]


def test_a_household_size_is_not_an_income(brain: Brain) -> None:
    reading = read_message(brain.nlu.parse("三口人"), brain.rules, "income")
    assert "income" not in reading.values and reading.values["household"]["size"] == 3


async def test_a_greeting_before_a_question_does_not_hide_it(assistant: Assistant) -> None:
    reply = await Resident(assistant, "polite").say("您好,我想申请低保,请问条件是什么")
    assert "最低生活保障" in reply and "来源" in reply


def test_streets_outside_shanghai_are_kept(brain: Brain) -> None:
    parse = brain.nlu.parse("我住安居区柏树街道")
    assert parse.first("district") == "安居区" and parse.first("street") == "柏树街道"
    assert brain.nlu.parse("城里的街道").first("street") is None


async def test_navigation_words_without_a_report(assistant: Assistant) -> None:
    reply = await Resident(assistant, "nav-none").say("取消")
    assert "没有进行中的登记" in reply
