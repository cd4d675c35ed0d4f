"""Whatever a client sends, the API answers with a reply or a 4xx JSON error, never a 500."""

from __future__ import annotations

import asyncio
import io
import json
import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from bot.assembly import Assistant, Brain
from bot.config import Settings
from bot.web.app import create_app

PARSE = "/model/parse"
WEBHOOK = "/webhooks/rest/webhook"
TRACE_MARKERS = ("Traceback", 'File "')


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, settings: Settings, assistant: Assistant
) -> TestClient[Any, Any]:
    return await aiohttp_client(await create_app(settings, assistant=assistant))


def body_with(path: str, text: str, sender: Any = "tester") -> dict[str, Any]:
    if path == PARSE:
        return {"text": text}
    return {"sender": sender, "message": text}


async def check_answer(resp: Any, path: str) -> Any:
    """The response is a sensible 200 or a 4xx JSON error; returns the decoded body."""
    raw = await resp.text()
    assert resp.status != 500, raw
    assert resp.status == 200 or 400 <= resp.status < 500, (resp.status, raw)
    assert resp.content_type == "application/json", (resp.status, raw)
    for marker in TRACE_MARKERS:
        assert marker not in raw, raw
    body = json.loads(raw)
    if resp.status == 200:
        if path == PARSE:
            assert isinstance(body["intent"]["name"], str)
            assert 0.0 <= body["intent"]["confidence"] <= 1.0
            for ent in body["entities"]:
                assert 0 <= ent["start"] <= ent["end"] <= len(body["text"])
        else:
            assert isinstance(body, list)
            assert body, "a 200 from the webhook must contain at least one reply"
            for reply in body:
                assert isinstance(reply["text"], str)
                assert reply["text"].strip()
    else:
        assert_json_error(body)
    return body


def assert_json_error(body: Any) -> None:
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body["error"].strip(), body


ENDPOINTS = pytest.mark.parametrize("path", [PARSE, WEBHOOK])

TEXTS = {
    "empty": "",
    "spaces": "   \n\t ",
    "two_thousand": "低保怎么申请" * 333 + "低保",
    "two_thousand_ascii": "a" * 2_000,
    "emoji": "😀🙏👍🏽👨‍👩‍👧",
    "control": "\x00\x07",
    "control_mixed": "低\x00保\x1b[31m怎么\x7f申请\u200b\ufeff",
    "html": "<script>alert(1)</script>低保",
    "sql": "'; DROP TABLE leads; --",
    "payload_like": "/ask_policy{not json",
    "payload_unknown": '/no_such_intent{"policy": "dibao"}',
    "rtl": "\u202e低保\u202c",
    "combining": "e\u0301\u0301\u0301" * 50,
    "private_use": "\ue000\U000f0000",
    "newlines": "\n".join(["低保"] * 500),
}


@ENDPOINTS
@pytest.mark.parametrize("name", list(TEXTS))
async def test_strange_text_gets_an_answer(
    client: TestClient[Any, Any], path: str, name: str
) -> None:
    resp = await client.post(path, json=body_with(path, TEXTS[name], sender=f"s-{name}"))
    await check_answer(resp, path)
    assert resp.status == 200, f"{name!r} is a valid request and should be answered"


async def test_empty_message_asks_for_text(client: TestClient[Any, Any]) -> None:
    resp = await client.post(WEBHOOK, json={"sender": "e", "message": ""})
    body = await check_answer(resp, WEBHOOK)
    assert "没有收到文字" in body[0]["text"]


async def test_missing_message_is_treated_as_empty(client: TestClient[Any, Any]) -> None:
    """Rasa's REST channel reads ``req.json.get("message", None)`` and hands the missing text
    to the bot like any message (200 and the bot's replies), so a client written for Rasa
    gets the same here: the empty-message reply, not an error."""
    resp = await client.post(WEBHOOK, json={"sender": "e"})
    body = await check_answer(resp, WEBHOOK)
    assert resp.status == 200
    assert "没有收到文字" in body[0]["text"]
    assert all(reply["recipient_id"] == "e" for reply in body)


async def test_long_message_is_answered(client: TestClient[Any, Any]) -> None:
    resp = await client.post(WEBHOOK, json={"sender": "long", "message": "低保怎么申请" * 1666})
    body = await check_answer(resp, WEBHOOK)
    assert resp.status == 200
    assert any("最低生活保障" in reply["text"] for reply in body)


async def test_script_is_not_echoed(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        WEBHOOK, json={"sender": "html", "message": "<script>alert(1)</script>低保"}
    )
    body = await check_answer(resp, WEBHOOK)
    assert all("<script>" not in reply["text"] for reply in body)
    assert any("低保" in reply["text"] for reply in body)

    resp = await client.post(PARSE, json={"text": "<script>alert(1)</script>低保"})
    parsed = await check_answer(resp, PARSE)
    policy = [e for e in parsed["entities"] if e["entity"] == "policy"]
    assert policy
    assert parsed["text"][policy[0]["start"] : policy[0]["end"]] == "低保"


BAD_BODIES: dict[str, bytes] = {
    "list": b'["text", "message"]',
    "string": b'"\xe4\xbd\xa0\xe5\xa5\xbd"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "invalid_json": b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd",',
    "not_json": b"text=hello&sender=a",
    "empty": b"",
    "invalid_utf8": b'{"text": "\xff\xfe", "sender": "a", "message": "\xff"}',
    "nested_deep": b"[" * 10_000 + b"]" * 10_000,
}


@ENDPOINTS
@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_bad_body_is_a_json_4xx(client: TestClient[Any, Any], path: str, name: str) -> None:
    resp = await client.post(
        path, data=BAD_BODIES[name], headers={"Content-Type": "application/json"}
    )
    await check_answer(resp, path)
    assert 400 <= resp.status < 500


@ENDPOINTS
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": None, "message": None},
        {"text": ["低保"], "message": ["低保"], "sender": "a"},
        {"text": {"a": 1}, "message": {"a": 1}, "sender": "a"},
        {"text": True, "message": True, "sender": "a"},
    ],
)
async def test_wrong_field_types_are_4xx(
    client: TestClient[Any, Any], path: str, body: dict[str, Any]
) -> None:
    resp = await client.post(path, json=body)
    await check_answer(resp, path)
    assert 400 <= resp.status < 500


@pytest.mark.parametrize(
    "body",
    [
        {"message": "你好"},
        {"sender": None, "message": "你好"},
        {"sender": "", "message": "你好"},
        {"sender": "   ", "message": "你好"},
        {"sender": ["a"], "message": "你好"},
        {"sender": {"id": 1}, "message": "你好"},
        {"sender": True, "message": "你好"},
        {"sender": "x" * 201, "message": "你好"},
    ],
)
async def test_bad_sender_is_4xx(client: TestClient[Any, Any], body: dict[str, Any]) -> None:
    resp = await client.post(WEBHOOK, json=body)
    await check_answer(resp, WEBHOOK)
    assert 400 <= resp.status < 500


@pytest.mark.parametrize(("sender", "recipient"), [(12345, "12345"), (1.5, "1.5")])
async def test_numeric_sender_is_answered_as_its_text(
    client: TestClient[Any, Any], sender: Any, recipient: str
) -> None:
    """Rasa keeps a numeric ``sender`` as the conversation id (a phone-gateway id is often
    a number): answered, and the replies name it as text."""
    resp = await client.post(WEBHOOK, json={"sender": sender, "message": "你好"})
    body = await check_answer(resp, WEBHOOK)
    assert resp.status == 200
    assert body and all(reply["recipient_id"] == recipient for reply in body)


@ENDPOINTS
@pytest.mark.parametrize("size", [64 * 1024 + 1, 300 * 1024, 2 * 1024 * 1024])
async def test_body_over_the_limit_is_413(
    client: TestClient[Any, Any], path: str, size: int
) -> None:
    padding = "a" * size
    raw = json.dumps({"text": padding, "sender": "big", "message": padding}).encode()
    resp = await client.post(
        path, data=io.BytesIO(raw), headers={"Content-Type": "application/json"}
    )
    await check_answer(resp, path)
    assert resp.status == 413


@ENDPOINTS
async def test_text_over_the_character_limit_is_refused_cleanly(
    client: TestClient[Any, Any], path: str
) -> None:
    """Up to the limit is read; one more is refused with 413 and a JSON error naming it.

    The webhook takes 10,000 characters (the engine reads the first 2,000 and says so);
    ``/model/parse`` reads all it is given, so it takes 2,000, what the engine reads.
    Why an error and not a reply: answering would mean reading only part of the text and
    silently dropping the rest, or putting an over-long text into the conversation's
    state. A 413 loses nothing (the client still holds the whole text and can split it), and
    the integrator, not the resident, is the one who can act on it. The conversation is left
    as it was: the next message is answered normally.
    """
    limit = 2_000 if path == PARSE else 10_000
    long_text = ("我家的情况是这样的。" * 1000)[:limit]
    assert len(long_text) == limit
    resp = await client.post(path, json=body_with(path, long_text, sender="limit"))
    await check_answer(resp, path)
    assert resp.status == 200, f"{limit} characters are within the limit"

    resp = await client.post(path, json=body_with(path, long_text + "a", sender="limit"))
    body = await check_answer(resp, path)
    assert resp.status == 413
    assert str(limit) in body["error"] or f"{limit:,}" in body["error"], body

    resp = await client.post(path, json=body_with(path, "你好", sender="limit"))
    await check_answer(resp, path)
    assert resp.status == 200


@ENDPOINTS
async def test_lone_surrogate_escape_is_not_a_500(client: TestClient[Any, Any], path: str) -> None:
    """``"\\ud800"`` is valid JSON that decodes to a string UTF-8 cannot encode."""
    raw = b'{"text": "\\ud800\\u4f4e\\u4fdd", "sender": "surrogate", "message": "\\ud800\\u4f4e\\u4fdd"}'
    resp = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
    body = await check_answer(resp, path)
    # The unencodable half-character is dropped to a placeholder; the words around it count.
    assert resp.status == 200
    if path == PARSE:
        assert any(e["entity"] == "policy" and e["value"] == "dibao" for e in body["entities"])
    else:
        assert any("最低生活保障" in reply["text"] for reply in body), body


async def test_lone_surrogate_sender_is_not_a_500(client: TestClient[Any, Any]) -> None:
    raw = b'{"sender": "\\udfff", "message": "\\u4f60\\u597d"}'
    resp = await client.post(WEBHOOK, data=raw, headers={"Content-Type": "application/json"})
    body = await check_answer(resp, WEBHOOK)
    assert resp.status == 200
    assert body[0]["text"].strip()


@ENDPOINTS
async def test_body_sent_in_pieces_is_read_whole(client: TestClient[Any, Any], path: str) -> None:
    """A valid body that arrives in several network reads (chunked upload) is one request."""
    raw = json.dumps(
        {"text": "低保怎么申请", "sender": "pieces", "message": "低保怎么申请"}, ensure_ascii=False
    ).encode()

    async def pieces() -> Any:
        for i in range(0, len(raw), 8):
            yield raw[i : i + 8]
            await asyncio.sleep(0.01)

    resp = await client.post(path, data=pieces(), headers={"Content-Type": "application/json"})
    await check_answer(resp, path)
    assert resp.status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"sender": "nul\x00sender", "message": "你好"},
        {"sender": "bell\x07", "message": "\x00\x07"},
        {"sender": "nul-message", "message": "低保\x00怎么申请"},
    ],
    ids=["nul-in-sender", "bell-in-sender", "nul-in-message"],
)
async def test_control_characters_on_every_database(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    any_db_assistant: Assistant,
    body: dict[str, str],
) -> None:
    """A NUL in the sender or message must not reach the database as a 500 (PostgreSQL)."""
    client = await aiohttp_client(await create_app(settings, assistant=any_db_assistant))
    resp = await client.post(WEBHOOK, json=body)
    await check_answer(resp, WEBHOOK)
    assert resp.status == 200, "control characters are stored as spaces, not refused"
    # The conversation goes on afterwards.
    resp = await client.post(WEBHOOK, json={**body, "message": "低保怎么申请"})
    replies = await check_answer(resp, WEBHOOK)
    assert resp.status == 200
    assert any("最低生活保障" in reply["text"] for reply in replies), replies


INTAKE_WITH_CONTROL_CHARACTERS = [
    "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路\x00",
    "没有\x07",
    "老伴住院了\x00医药费付不起",
    "比较急",
    "13812345678 我姓\x00王",
    "/affirm",
    "/affirm",
    "/deny",
]


async def run_intake(client: TestClient[Any, Any], sender: str, messages: list[str]) -> str:
    body: Any = None
    for message in messages:
        resp = await client.post(WEBHOOK, json={"sender": sender, "message": message})
        body = await check_answer(resp, WEBHOOK)
        assert resp.status == 200
    return "\n".join(reply["text"] for reply in body)


async def test_control_characters_inside_an_intake_on_every_database(
    aiohttp_client: AiohttpClient, settings: Settings, any_db_assistant: Assistant
) -> None:
    client = await aiohttp_client(await create_app(settings, assistant=any_db_assistant))
    last = await run_intake(client, "nul-intake", INTAKE_WITH_CONTROL_CHARACTERS)
    assert "L-" in last


async def test_control_characters_in_a_report_merged_into_an_open_lead(
    aiohttp_client: AiohttpClient, settings: Settings, any_db_assistant: Assistant
) -> None:
    """A second report with the same phone is flagged on the first (a note): NUL must not break it."""
    client = await aiohttp_client(await create_app(settings, assistant=any_db_assistant))
    clean = [m.replace("\x00", "").replace("\x07", "") for m in INTAKE_WITH_CONTROL_CHARACTERS]
    first = await run_intake(client, "clean-intake", clean)
    assert "L-" in first
    second = await run_intake(client, "nul-intake", INTAKE_WITH_CONTROL_CHARACTERS)
    assert "L-" in second


# -- routing errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/path", 404),
        ("POST", "/no/such/path", 404),
        ("GET", "/api/v1/nope", 404),
        ("GET", "/model/parse", 405),
        ("GET", "/webhooks/rest/webhook", 405),
        ("PUT", "/model/parse", 405),
        ("DELETE", "/webhooks/rest/webhook", 405),
        ("POST", "/healthz", 405),
        ("DELETE", "/api/v1/leads", 405),
    ],
)
async def test_routing_errors_are_json(
    client: TestClient[Any, Any], method: str, path: str, status: int
) -> None:
    resp = await client.request(method, path)
    assert resp.status == status
    assert resp.content_type == "application/json"
    raw = await resp.text()
    for marker in TRACE_MARKERS:
        assert marker not in raw
    assert_json_error(json.loads(raw))


# -- property-based: the parser and the engine never break ----------------------------------


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text())
def test_parser_never_raises(brain: Brain, text: str) -> None:
    result = brain.nlu.parse(text).as_dict()
    assert result["text"] == text
    assert isinstance(result["intent"]["name"], str)
    assert result["intent"]["name"]
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    for ent in result["entities"]:
        assert 0 <= ent["start"] <= ent["end"] <= len(text)
    confidences = [item["confidence"] for item in result["intent_ranking"]]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)
    json.dumps(result, ensure_ascii=False)


@hypothesis_settings(max_examples=100, deadline=None, database=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(
            "低保医疗救助长宁区浦东新区一二三四五六七八九十百千万元岁口人和我老伴住院0123456789,。? "
        )
    )
)
def test_parser_offsets_point_at_the_surface(brain: Brain, text: str) -> None:
    result = brain.nlu.parse(text).as_dict()
    for ent in result["entities"]:
        assert 0 <= ent["start"] <= ent["end"] <= len(text)
        if ent["entity"] in {"policy", "district"}:
            assert text[ent["start"] : ent["end"]].strip(), ent


def random_strings(count: int, seed: int = 0) -> list[str]:
    """Strings of code points from the whole Unicode range, weighted towards real input."""
    rng = random.Random(seed)
    ranges = [
        (0x20, 0x7E),  # ASCII
        (0x00, 0x1F),  # control characters
        (0x4E00, 0x9FFF),  # CJK
        (0x3000, 0x303F),  # CJK punctuation
        (0xFF00, 0xFFEF),  # full-width forms
        (0x1F300, 0x1FAFF),  # emoji
        (0x0300, 0x036F),  # combining marks
        (0x200B, 0x202E),  # zero-width and bidi controls
        (0x0000, 0xD7FF),  # anything below the surrogates
        (0xE000, 0x10FFFF),  # anything above them
    ]
    out: list[str] = []
    for _ in range(count):
        length = rng.choice([0, 1, 2, 5, 20, 80, 300])
        chars = []
        for _ in range(length):
            low, high = rng.choice(ranges)
            chars.append(chr(rng.randint(low, high)))
        out.append("".join(chars))
    return out


async def test_engine_always_replies(assistant: Assistant) -> None:
    for text in random_strings(200):
        replies = await assistant.engine.handle("rest", "fuzz", text)
        assert replies, f"no reply to {text!r}"
        for reply in replies:
            assert isinstance(reply.text, str)
            assert reply.text.strip(), f"empty reply to {text!r}"
