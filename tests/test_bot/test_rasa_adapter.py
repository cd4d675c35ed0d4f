"""ZHAOREN_RASA_URL: a running Rasa server reads each message (tested against a stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.assembly import Brain, open_assistant
from bot.config import Settings
from bot.rasa_nlu import RasaParser
from tests.test_dialogues.helpers import Resident


class RasaStandIn:
    """Answers ``/model/parse`` in Rasa 3's shape and records what it was asked."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.answer: dict[str, Any] = {}

    async def parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.texts.append(body["text"])
        return web.json_response({"text": body["text"], **self.answer})


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[RasaStandIn, str]]:
    stand_in = RasaStandIn()
    app = web.Application()
    app.router.add_post("/model/parse", stand_in.parse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield stand_in, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _settings(tmp_path: Path, model_cache: Path, url: str) -> Settings:
    return Settings.from_env(
        {
            "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'z.db'}",
            "ZHAOREN_CACHE_DIR": str(model_cache),
            "ZHAOREN_RASA_URL": url,
        }
    )


async def test_rasa_reads_the_message_and_its_entities_are_ours(
    rasa: tuple[RasaStandIn, str], tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    stand_in, url = rasa
    # A Rasa model that knows a word our gazetteer does not: the answer follows Rasa.
    stand_in.answer = {
        "intent": {"name": "ask_policy", "confidence": 0.93},
        "entities": [
            {"entity": "policy", "value": "tekun", "start": 0, "end": 4, "extractor": "DIET"},
            {"entity": "aspect", "value": "eligibility", "start": 4, "end": 8},
            {"entity": "cuisine", "value": "川菜", "start": 0, "end": 1},
        ],
        "intent_ranking": [{"name": "ask_policy", "confidence": 0.93}],
    }
    assistant = await open_assistant(_settings(tmp_path, model_cache, url), brain)
    try:
        reply = await Resident(assistant, "rasa-1").say("孤老补助咋个申请条件")
        assert stand_in.texts == ["孤老补助咋个申请条件"]
        assert "特困" in reply and "申请条件" in reply
    finally:
        await assistant.close()


async def test_numbers_and_low_confidence_are_handled_as_with_the_built_in_nlu(
    rasa: tuple[RasaStandIn, str], brain: Brain
) -> None:
    stand_in, url = rasa
    stand_in.answer = {
        "intent": {"name": "inform", "confidence": 0.1},
        "entities": [],
        "intent_ranking": [{"name": "inform", "confidence": 0.1}],
    }
    parser = RasaParser(url, brain.nlu)
    try:
        result = await parser.parse("电话13812345678,每月两千")
    finally:
        await parser.close()
    assert result.intent.name == "out_of_scope" and result.fallback
    assert result.first("phone") == "13812345678" and result.first("money") == 2000


async def test_when_rasa_is_down_the_built_in_nlu_answers(
    tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    # Nothing listens on this port: the message is still understood.
    assistant = await open_assistant(_settings(tmp_path, model_cache, "http://127.0.0.1:9"), brain)
    try:
        reply = await Resident(assistant, "rasa-down").say("低保怎么申请")
        assert "最低生活保障" in reply
    finally:
        await assistant.close()
