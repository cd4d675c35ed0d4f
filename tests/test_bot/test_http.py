"""The Rasa-compatible HTTP endpoints (contract §4) as an integrator calls them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy import select

from bot.assembly import Assistant
from bot.config import Settings
from bot.storage.lead_sink import find_lead
from bot.storage.models import Lead
from bot.web.app import create_app

LEAD_ID = re.compile(r"L-\d{8}-\d{4}")
WEBHOOK = "/webhooks/rest/webhook"


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, assistant: Assistant
) -> TestClient[Any, Any]:
    return await aiohttp_client(await create_app(settings, assistant=assistant))


async def parse(client: TestClient[Any, Any], text: str) -> dict[str, Any]:
    resp = await client.post("/model/parse", json={"text": text})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def send(client: TestClient[Any, Any], sender: str, message: str) -> list[dict[str, Any]]:
    """One message through the REST channel; checks the Rasa REST shape of the answer."""
    resp = await client.post(WEBHOOK, json={"sender": sender, "message": message})
    assert resp.status == 200, await resp.text()
    replies = await resp.json()
    assert isinstance(replies, list)
    assert replies, f"no reply to {message!r}"
    for reply in replies:
        assert reply["recipient_id"] == sender
        assert isinstance(reply["text"], str)
        assert reply["text"].strip()
        for button in reply.get("buttons", []):
            assert set(button) == {"title", "payload"}
            assert isinstance(button["title"], str)
            assert button["title"]
            assert isinstance(button["payload"], str)
            assert button["payload"]
    return replies


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r["text"] for r in replies)


def buttons_of(replies: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for r in replies for b in r.get("buttons", [])]


def payload(replies: list[dict[str, Any]], wanted: str) -> str:
    """The payload of the button that sends ``wanted``; fails if there is no such button."""
    payloads = [b["payload"] for b in buttons_of(replies)]
    # Confirm and consent buttons carry the step they answer: /affirm{"step": "confirm"}.
    matching = [p for p in payloads if p == wanted or p.startswith(wanted + "{")]
    assert matching, f"no button with payload {wanted!r} in {buttons_of(replies)}"
    return matching[0]


def entity(result: dict[str, Any], name: str) -> dict[str, Any]:
    found = [e for e in result["entities"] if e["entity"] == name]
    assert found, f"no {name} entity in {result['entities']}"
    return found[0]


# -- /healthz -------------------------------------------------------------------------------


async def test_healthz_reports_ok(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["status"] == "ok"


# -- /model/parse ---------------------------------------------------------------------------


async def test_parse_has_rasa_shape(client: TestClient[Any, Any]) -> None:
    text = "低保怎么申请"
    result = await parse(client, text)

    assert result["text"] == text
    assert set(result["intent"]) >= {"name", "confidence"}
    assert isinstance(result["intent"]["name"], str)
    assert 0.0 <= result["intent"]["confidence"] <= 1.0

    assert isinstance(result["entities"], list)
    for ent in result["entities"]:
        assert set(ent) >= {"entity", "value", "start", "end"}
        assert isinstance(ent["start"], int)
        assert isinstance(ent["end"], int)
        assert 0 <= ent["start"] < ent["end"] <= len(text)

    ranking = result["intent_ranking"]
    assert ranking, "intent_ranking must not be empty"
    for item in ranking:
        assert set(item) >= {"name", "confidence"}
        assert 0.0 <= item["confidence"] <= 1.0
    confidences = [item["confidence"] for item in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert len({item["name"] for item in ranking}) == len(ranking), "an intent ranked twice"


async def test_parse_policy_question(client: TestClient[Any, Any]) -> None:
    text = "低保怎么申请"
    result = await parse(client, text)

    assert result["intent"]["name"] == "ask_policy"
    assert result["intent_ranking"][0]["name"] == "ask_policy"
    policy = entity(result, "policy")
    assert policy["value"] == "dibao"
    assert text[policy["start"] : policy["end"]] == "低保"
    aspect = entity(result, "aspect")
    assert aspect["value"] == "process"
    assert "申请" in text[aspect["start"] : aspect["end"]]


async def test_parse_traditional_characters_keep_original_offsets(
    client: TestClient[Any, Any],
) -> None:
    text = "我想申請醫療救助"
    result = await parse(client, text)

    assert result["text"] == text, "the text must be echoed as sent, not converted"
    policy = entity(result, "policy")
    assert policy["value"] == "yiliao"
    # Offsets index the message as received (traditional characters).
    assert text[policy["start"] : policy["end"]] == "醫療救助"


async def test_parse_is_rasa_compatible_for_several_entities(
    client: TestClient[Any, Any],
) -> None:
    text = "我住长宁区,医疗救助要带什么材料"
    result = await parse(client, text)
    surfaces = {e["entity"]: text[e["start"] : e["end"]] for e in result["entities"]}
    values = {e["entity"]: e["value"] for e in result["entities"]}
    assert values.get("policy") == "yiliao"
    assert surfaces["policy"] == "医疗救助"
    assert values.get("aspect") == "materials"
    assert values.get("district") == "长宁区"
    assert surfaces["district"] == "长宁区"


# -- /webhooks/rest/webhook -----------------------------------------------------------------


async def test_webhook_greeting_offers_buttons(client: TestClient[Any, Any]) -> None:
    replies = await send(client, "a", "你好")
    assert "找人" in text_of(replies)
    buttons = buttons_of(replies)
    assert buttons, "the greeting should offer buttons"


async def test_webhook_button_payload_answers_it(client: TestClient[Any, Any]) -> None:
    greeting = await send(client, "a", "你好")
    report = next(b for b in buttons_of(greeting) if b["payload"] == "/report_need")

    intake = text_of(await send(client, "a", report["payload"]))
    assert "我来帮您登记" in intake
    assert "哪个区" in intake


async def test_button_titles_are_shown_in_full(client: TestClient[Any, Any]) -> None:
    """Titles written with a comma (「家里有困难,想登记」「对,没问题」) reach the resident whole."""
    greeting = buttons_of(await send(client, "titles", "你好"))
    report = next(b for b in greeting if b["payload"] == "/report_need")
    assert "家里有困难" in report["title"]
    assert "想登记" in report["title"], greeting

    sender = "titles-intake"
    await send(
        client,
        sender,
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
    )
    await send(client, sender, "没有")
    urgency = buttons_of(await send(client, sender, "老伴住院了医药费付不起"))
    very = next(b for b in urgency if b["payload"] == "非常急")
    assert "这几天" in very["title"], urgency
    await send(client, sender, "比较急")
    confirm = buttons_of(await send(client, sender, "13812345678 我姓王"))
    yes = next(b for b in confirm if b["payload"].startswith("/affirm"))
    assert "没问题" in yes["title"], confirm


async def test_policy_answer_buttons_answer_their_aspect(client: TestClient[Any, Any]) -> None:
    answer = await send(client, "b", "低保是什么")
    assert "最低生活保障" in text_of(answer)
    assert "来源" in text_of(answer)

    more = next(b for b in buttons_of(answer) if b["title"] == "申请条件")
    eligibility = text_of(await send(client, "b", more["payload"]))
    assert "最低生活保障" in eligibility
    assert "申请条件" in eligibility
    assert "来源" in eligibility


async def test_greeting_policy_button_asks_which_policy(client: TestClient[Any, Any]) -> None:
    """The greeting's own 「我想问政策」 button must not be met with 「这个问题我不太懂」."""
    greeting = await send(client, "a", "你好")
    ask_policy = next(b for b in buttons_of(greeting) if "政策" in b["title"])

    which = await send(client, "a", ask_policy["payload"])
    assert "不太懂" not in text_of(which)
    assert "哪一项政策" in text_of(which)
    assert any(b["title"] == "低保" for b in buttons_of(which))


async def test_which_policy_button_keeps_the_aspect_asked(client: TestClient[Any, Any]) -> None:
    """「那要带什么材料」→「哪一项政策?」→ [低保] answers 低保's materials, not what it is."""
    which = await send(client, "c", "那要带什么材料")
    assert "哪一项政策" in text_of(which)

    dibao = next(b for b in buttons_of(which) if b["title"] == "低保")
    answer = text_of(await send(client, "c", dibao["payload"]))
    assert "最低生活保障" in answer
    assert "要带的材料" in answer, answer


async def test_full_intake_through_webhook_posts_a_lead(
    client: TestClient[Any, Any], assistant: Assistant
) -> None:
    sender = "intake-1"
    first = await send(
        client,
        sender,
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
    )
    assert "登记" in text_of(first)
    assert "救助" in text_of(first)  # next question: current assistance

    needs_question = await send(client, sender, payload(first, "没有"))
    assert "最需要" in text_of(needs_question)
    urgency_question = await send(client, sender, "老伴住院了医药费付不起")
    assert "多急" in text_of(urgency_question)
    phone_question = await send(client, sender, payload(urgency_question, "比较急"))
    assert "电话" in text_of(phone_question)

    confirm = await send(client, sender, "13812345678 我姓王")
    summary = text_of(confirm)
    assert "长宁区" in summary
    assert "138****5678" in summary
    assert "13812345678" not in summary, "the confirmation must not echo the whole phone"
    payload(confirm, "/deny")  # the resident can say something is wrong

    consent = await send(client, sender, payload(confirm, "/affirm"))
    assert "同意" in text_of(consent)
    charity = await send(client, sender, payload(consent, "/affirm"))
    assert "慈善" in text_of(charity)
    posted = await send(client, sender, payload(charity, "/deny"))

    match = LEAD_ID.search(text_of(posted))
    assert match, f"no lead id in {text_of(posted)!r}"
    async with assistant.sessions() as session:
        lead = await find_lead(session, match.group())
    assert lead is not None
    assert lead.channel == "rest"
    assert lead.status == "new"
    assert lead.district == "长宁区"
    assert lead.phone == "13812345678"
    assert lead.data["consent"]["caseworker"] is True
    assert lead.data["consent"]["charity"] is False
    assert lead.data["household"]["size"] == 2

    # Saying yes again does not file the same report twice.
    again = await send(client, sender, "/affirm")
    assert match.group() in text_of(again)
    async with assistant.sessions() as session:
        count = len((await session.scalars(select(Lead))).all())
    assert count == 1


async def test_declining_consent_posts_nothing(
    client: TestClient[Any, Any], assistant: Assistant
) -> None:
    sender = "intake-declined"
    replies = await send(
        client,
        sender,
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
    )
    for message in ("没有", "老伴住院了医药费付不起", "比较急", "13812345678 我姓王", "/affirm"):
        replies = await send(client, sender, message)
    declined = await send(client, sender, payload(replies, "/deny"))
    assert not LEAD_ID.search(text_of(declined))
    assert "不会保存" in text_of(declined)
    async with assistant.sessions() as session:
        assert (await session.scalars(select(Lead))).all() == []


async def test_follow_up_question_uses_context(client: TestClient[Any, Any]) -> None:
    first = text_of(await send(client, "ctx", "低保怎么申请"))
    assert "低保" in first
    assert "怎么申请" in first

    follow_up = text_of(await send(client, "ctx", "那多久复核一次"))
    assert "低保" in follow_up
    assert "复核" in follow_up
    assert "来源" in follow_up


async def test_senders_do_not_share_context(client: TestClient[Any, Any]) -> None:
    await send(client, "alice", "低保怎么申请")

    bob = text_of(await send(client, "bob", "那多久复核一次"))
    assert "最低生活保障" not in bob, "bob never asked about 低保"
    assert "哪一项政策" in bob

    # Alice's context is untouched by Bob's message.
    alice = text_of(await send(client, "alice", "那多久复核一次"))
    assert "最低生活保障" in alice
    assert "复核" in alice


async def test_intake_of_one_sender_does_not_capture_another(
    client: TestClient[Any, Any],
) -> None:
    started = await send(
        client,
        "carol",
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
    )
    assert "还剩" in text_of(started)

    dave = text_of(await send(client, "dave", "低保怎么申请"))
    assert "还剩" not in dave, "dave is not in carol's intake"
    assert "最低生活保障" in dave

    carol = text_of(await send(client, "carol", "没有"))
    assert "最需要" in carol, "carol's intake goes on where it was"
