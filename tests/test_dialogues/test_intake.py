"""End-to-end self-reports: each test is a different resident, asserting the lead.

Every test here stores a conversation and most a lead: each runs on SQLite and on PostgreSQL
(skipped, saying why, when no server answers).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.assembly import Assistant, Brain, open_assistant
from bot.config import Settings
from tests.contract import LEAD_KEYS
from tests.test_dialogues.helpers import Resident

LEAD_ID = re.compile(r"L-\d{8}-\d{4}")


@pytest.fixture
def assistant(any_db_assistant: Assistant) -> Assistant:
    """This module's assistant: the same test on each database (``any_db_assistant``)."""
    return any_db_assistant


async def finish(resident: Resident, charity: bool = False) -> str:
    """Confirm the summary and give consent."""
    assert "对吗" in resident.replies[-1].text, resident.replies[-1].text
    await resident.press("对")
    await resident.press("同意")
    return await resident.say("/affirm" if charity else "/deny")


async def test_elderly_verbose_resident_fills_everything_in_one_message(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "wang")
    reply = await resident.say("我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路")
    assert "领低保" in reply and "还剩 4 个问题" in reply
    await resident.say("没有")
    await resident.say("老伴住院了医药费付不起")
    await resident.say("比较急")
    summary = await resident.say("13812345678 我姓王")
    assert "138****5678" in summary and "长宁区新华路街道" in summary
    done = await finish(resident)
    assert "L-" in done and "医疗救助" in done and "以审核为准" in done
    (lead,) = await resident.leads()
    assert set(lead) >= LEAD_KEYS
    assert lead["region"] == {"district": "长宁区", "street": "新华路街道"}
    assert lead["household"]["size"] == 2
    assert {(m["relation"], m["age"]) for m in lead["household"]["members"]} == {
        ("self", 70),
        ("spouse", 70),
    }
    assert lead["income_monthly"] == 2000
    assert lead["current_assistance"] == []
    assert lead["needs"][0]["category"] == "medical"
    assert "yiliao" in lead["candidate_policies"]
    assert lead["tier_3a"] == ["assistance"]
    assert lead["target_class"] == "missing"
    assert lead["priority"] == 3
    assert lead["contact"] == {"name": "王", "phone": "13812345678"}
    assert lead["consent"]["caseworker"] is True and lead["consent"]["charity"] is False
    assert "长宁区" in lead["summary"] and "看病" in lead["summary"]


async def test_terse_resident_answers_one_question_at_a_time(assistant: Assistant) -> None:
    resident = Resident(assistant, "terse")
    assert "哪个区" in await resident.say("要登记")
    assert "几口人" in await resident.say("浦东新区花木街道")
    assert "收入" in await resident.say("3个人")
    assert "救助" in await resident.say("没收入")
    await resident.say("没有")
    await resident.say("想找工作")
    await resident.say("不急")
    await resident.say("13800001111")
    await finish(resident)
    (lead,) = await resident.leads()
    assert lead["region"]["district"] == "浦东新区"
    assert lead["household"]["size"] == 3
    assert lead["income_monthly"] == 0
    assert lead["candidate_policies"] == ["jiuye"]
    assert lead["tier_3a"] == ["advancement"]
    assert lead["target_class"] == "warning" and lead["priority"] == 4


async def test_traditional_characters_and_full_width_digits(assistant: Assistant) -> None:
    resident = Resident(assistant, "trad")
    await resident.say("我住長寧區周家橋街道,一家三口,每個月收入三千五")
    await resident.say("在領低保")
    await resident.say("孩子上學的學費交不起")
    await resident.say("非常急")
    await resident.say("電話１３９１２３４５６７８")
    await finish(resident, charity=True)
    (lead,) = await resident.leads()
    assert lead["region"] == {"district": "长宁区", "street": "周家桥街道"}
    assert lead["household"]["size"] == 3 and lead["income_monthly"] == 3500
    assert lead["current_assistance"] == ["dibao"]
    assert lead["target_class"] == "insufficient"
    assert "jiaoyu" in lead["candidate_policies"] and "linshi" in lead["candidate_policies"]
    assert lead["priority"] == 2
    assert lead["consent"]["charity"] is True
    assert lead["contact"]["phone"] == "13912345678"


async def test_numbers_in_chinese_and_a_yearly_income(assistant: Assistant) -> None:
    resident = Resident(assistant, "numbers")
    await resident.say("浦东新区张江镇,一家五口,一年收入一共三万六")
    await resident.say("没有")
    await resident.say("房租交不上了")
    await resident.say("比较急")
    await resident.say("13700002222")
    await finish(resident)
    (lead,) = await resident.leads()
    assert lead["household"]["size"] == 5
    assert lead["income_monthly"] == 3000
    assert "zhufang" in lead["candidate_policies"]


async def test_corrections_change_the_recorded_answer(assistant: Assistant) -> None:
    resident = Resident(assistant, "fixer")
    await resident.say("我和老伴两个人住在长宁区仙霞新村街道,每月退休金三千")
    await resident.say("没有")
    await resident.say("家里老人没人照顾")
    await resident.say("不对,是三个人")
    await resident.say("不急")
    summary = await resident.say("13600003333")
    assert "3口人" in summary
    await resident.press("不对")
    assert "哪里不对" in resident.replies[-1].text
    fixed = await resident.say("电话是13912340000")
    assert "139****0000" in fixed and "对吗" in fixed
    await finish(resident)
    (lead,) = await resident.leads()
    assert lead["household"]["size"] == 3
    assert lead["contact"]["phone"] == "13912340000"


async def test_a_side_question_is_answered_and_the_report_resumes(assistant: Assistant) -> None:
    resident = Resident(assistant, "side")
    await resident.say("家里揭不开锅了,想申请帮助")
    reply = await resident.say("低保怎么申请?")
    assert "最低生活保障" in reply and "来源" in reply
    assert "接着刚才的登记" in reply and "哪个区" in resident.replies[-1].text


async def test_a_half_finished_report_survives_a_restart(
    any_db_settings: Settings, brain: Brain
) -> None:
    settings = any_db_settings
    first = await open_assistant(settings, brain)
    try:
        resident = Resident(first, "restart")
        await resident.say("我一个人住在长宁区天山路街道,六十八岁,没有收入")
    finally:
        await first.close()
    second = await open_assistant(settings, brain)
    try:
        resident = Resident(second, "restart")
        reply = await resident.say("没有")
        assert "最需要帮的是什么" in reply
        await resident.say("生活费不够")
        await resident.say("比较急")
        await resident.say("13500004444")
        await finish(resident)
        (lead,) = await resident.leads()
        assert lead["region"]["street"] == "天山路街道"
        assert lead["household"]["size"] == 1
        assert lead["household"]["members"][0]["age"] == 68
        assert "elderly_alone" in lead["household"]["members"][0]["conditions"]
        assert {"dibao", "tekun"} <= set(lead["candidate_policies"])
    finally:
        await second.close()


async def test_a_crisis_in_the_middle_posts_at_once_and_the_report_completes_it(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "crisis-mid")
    await resident.say("我住浦东新区洋泾街道,家里两个人")
    reply = await resident.say("活着没意思,不想活了")
    assert "12356" in reply and "L-" in reply
    (crisis,) = await resident.leads()
    assert crisis["priority"] == 1 and crisis["region"]["district"] == "浦东新区"
    assert "收入" in resident.replies[-1].text  # the report goes on where it was
    await resident.say("一个月一千多")
    await resident.say("没有")
    await resident.say("心里难受,没人说话")
    await resident.say("非常急")
    await resident.say("13300005555")
    done = await finish(resident)
    assert "补充" in done
    (lead,) = await resident.leads()
    assert lead["priority"] == 1 and lead["contact"]["phone"] == "13300005555"
    assert lead["consent"]["caseworker"] is True
    assert "xinli" in lead["candidate_policies"]


async def test_refusing_consent_posts_nothing_and_keeps_nothing(assistant: Assistant) -> None:
    resident = Resident(assistant, "refuse")
    await resident.say("我和女儿两个人住在长宁区江苏路街道,每月两千")
    await resident.say("没有")
    await resident.say("女儿上学的学费")
    await resident.say("比较急")
    await resident.say("13200006666")
    await resident.press("对")
    reply = await resident.press("不同意")
    assert "不会保存" in reply and "当面申请" in reply
    assert await resident.leads() == []
    state = await assistant.engine.store.load("rest:refuse")
    assert state is not None and state["intake"] is None and state["phone"] is None
    assert "13200006666" not in str(state)


async def test_double_click_makes_one_lead_and_the_same_phone_elsewhere_is_flagged(
    assistant: Assistant,
) -> None:
    resident = Resident(assistant, "twice")
    await resident.say("长宁区华阳路街道,我一个人,每月一千五")
    await resident.say("没有")
    await resident.say("看病的钱")
    await resident.say("比较急")
    await resident.say("13100007777")
    await resident.press("对")
    await resident.press("同意")
    last_button = resident.buttons()["不同意"]  # the charity question's 「不同意」
    posted = await resident.say(last_button)
    match = LEAD_ID.search(posted)
    assert match and "已登记" in posted, posted
    lead_id = match.group()
    # The same button arrives a second time (a double click, a resent request), then a
    # typed yes: each time the resident is told it is already filed, with its reference.
    for repeated in (last_button, "/affirm"):
        repeat = await resident.say(repeated)
        assert "已经提交过了" in repeat and lead_id in repeat, (repeated, repeat)
        assert "已登记" not in repeat, "a second 已登记 would look like a second report"
        (only,) = await resident.leads()
        assert only["id"] == lead_id
    # The same phone from another conversation is a lead of its own (a phone proves nothing
    # about who is writing); the caseworkers of both see it as a possible duplicate.
    other = Resident(assistant, "twice-other-channel", channel="web")
    await other.say("长宁区华阳路街道,我一个人,每月一千五")
    await other.say("没有")
    await other.say("房租也交不上")
    await other.say("比较急")
    await other.say("13100007777")
    second = await finish(other)
    assert "已登记" in second and lead_id not in second, second
    first, again = await resident.leads()
    assert first["id"] == lead_id
    assert {n["category"] for n in first["needs"]} == {"medical"}
    assert {n["category"] for n in again["needs"]} == {"housing"}
    assert first["possible_duplicates"] == [again["id"]]
    assert again["possible_duplicates"] == [lead_id]


async def test_unknown_answers_are_recorded_and_not_asked_again(assistant: Assistant) -> None:
    resident = Resident(assistant, "unknown")
    await resident.say("我住船山区,家里四个人")
    reply = await resident.say("不方便说")
    assert "先空着" in reply and "收入" not in resident.replies[-1].text
    await resident.say("不知道")
    await resident.say("老人病了没人照顾")
    await resident.say("比较急")
    summary = await resident.say("13000008888")
    assert "月收入:不清楚" in summary
    assert "救助协理员" in (await resident.press("对"))
    await resident.press("同意")
    await resident.say("/deny")
    (lead,) = await resident.leads()
    assert lead["income_monthly"] is None
    assert lead["region"]["district"] == "船山区"


async def test_two_failed_answers_offer_an_example_and_a_way_out(assistant: Assistant) -> None:
    resident = Resident(assistant, "stuck")
    await resident.say("我要登记")
    first = await resident.say("嗯嗯嗯")
    assert "没听明白" in first
    second = await resident.say("啊?")
    assert "比如" in second and "跳过这个问题" in resident.buttons()
    after = await resident.press("跳过")
    assert "几口人" in after


async def test_back_restart_and_cancel(assistant: Assistant) -> None:
    resident = Resident(assistant, "nav")
    await resident.say("我要登记")
    await resident.say("长宁区新华路街道")
    back = await resident.say("返回上一步")
    assert "哪个区" in back
    await resident.say("浦东新区陆家嘴街道")
    restart = await resident.say("重新开始")
    assert "哪个区" in restart
    state = await assistant.engine.store.load("rest:nav")
    assert state is not None and state["intake"]["slots"] == {}
    cancelled = await resident.say("取消")
    assert "已取消" in cancelled
    state = await assistant.engine.store.load("rest:nav")
    assert state is not None and state["intake"] is None
    assert await resident.leads() == []


async def test_a_report_left_for_seven_days_is_closed(assistant: Assistant) -> None:
    resident = Resident(assistant, "late")
    await resident.say("我要登记")
    await resident.say("长宁区新华路街道")
    real_clock = assistant.engine.clock
    assistant.engine.clock = lambda: real_clock() + 8 * 24 * 3600
    try:
        reply = await resident.say("三个人")
    finally:
        assistant.engine.clock = real_clock
    assert "自动关闭" in reply
    state = await assistant.engine.store.load("rest:late")
    assert state is not None and state["intake"] is None


async def test_status_is_told_in_words_after_posting(assistant: Assistant, tmp_path: Path) -> None:
    resident = Resident(assistant, "status")
    await resident.say("长宁区虹桥街道,两个人,每月三千")
    await resident.say("没有")
    await resident.say("找工作")
    await resident.say("比较急")
    await resident.say("18900009999")
    await finish(resident)
    reply = await resident.say("我登记的事现在怎么样了")
    assert "等待社区救助顾问认领" in reply
