"""What a resident withdraws is not kept; idle data is deleted on schedule; ``forget`` works."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from sqlalchemy import select, update

from bot.assembly import Assistant, Brain, open_assistant
from bot.cli import main as zhaoren
from bot.config import Settings
from bot.storage.models import AuditEntry, Conversation, Lead
from bot.storage.retention import purge_idle
from bot.web.app import create_app
from tests.conftest import sqlite_settings
from tests.test_dialogues.helpers import Resident

NAME = "甄琪茜"
PHONE = "13755550123"
NEED = "房租欠了三个月房东要赶人"


async def report_until_consent(resident: Resident) -> None:
    await resident.report_until_consent("长宁区新华路街道", NEED, f"{PHONE} 我叫{NAME}")


def files_holding(directory: Path, *secrets: str) -> list[str]:
    """The database files (main, WAL, shared memory) in which any secret can be read."""
    found = []
    for path in directory.iterdir():
        raw = path.read_bytes()
        found += [f"{path.name}: {s}" for s in secrets if s.encode() in raw]
    return found


async def stored_state(assistant: Assistant, key: str) -> str:
    async with assistant.sessions() as session:
        data = await session.scalar(select(Conversation.data).where(Conversation.key == key))
    return repr(data)


@pytest.mark.parametrize("withdraw", ["decline", "cancel"])
async def test_a_withdrawn_report_leaves_nothing_in_the_database_files(
    tmp_path: Path, model_cache: Path, brain: Brain, withdraw: str
) -> None:
    home = tmp_path / "db"
    home.mkdir()
    assistant = await open_assistant(sqlite_settings(home / "zhaoren.db", model_cache), brain)
    try:
        resident = Resident(assistant, "withdraws")
        await report_until_consent(resident)
        if withdraw == "decline":
            reply = await resident.press("不同意")
        else:
            reply = await resident.say("不弄了,取消吧")
        assert "不会保存" in reply
        state = await stored_state(assistant, "rest:withdraws")
        for secret in (NAME, PHONE, NEED, "新华路", "5550123"):
            assert secret not in state
        # The server's own scheduled job checkpoints: after it the files hold nothing either.
        await purge_idle(assistant.db, assistant.sessions, timedelta(days=30))
        assert files_holding(home, NAME, PHONE, NEED) == []
        async with assistant.sessions() as session:
            assert (await session.scalars(select(Lead))).all() == []
    finally:
        await assistant.close()


async def test_a_declined_report_is_not_kept_on_any_database(any_db_assistant: Assistant) -> None:
    resident = Resident(any_db_assistant, "declines")
    await report_until_consent(resident)
    assert "不会保存" in await resident.press("不同意")
    state = await stored_state(any_db_assistant, "rest:declines")
    assert NAME not in state and PHONE not in state and NEED not in state
    # The conversation goes on: a new question is answered.
    assert "低保" in await resident.say("低保怎么申请")


async def make_idle(assistant: Assistant, key: str, days: int) -> None:
    async with assistant.sessions() as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.key == key)
            .values(updated_at=datetime.now(UTC) - timedelta(days=days))
        )


async def conversation_keys(assistant: Assistant) -> set[str]:
    async with assistant.sessions() as session:
        return set((await session.scalars(select(Conversation.key))).all())


async def test_idle_conversations_are_deleted_after_the_retention_period(
    any_db_assistant: Assistant,
) -> None:
    abandoned = Resident(any_db_assistant, "abandoned")
    await abandoned.say("我想登记一下家里的困难")
    await abandoned.say("长宁区新华路街道")  # and never came back
    recent = Resident(any_db_assistant, "recent")
    await recent.say("低保怎么申请")
    await make_idle(any_db_assistant, "rest:abandoned", days=31)
    await make_idle(any_db_assistant, "rest:recent", days=29)
    deleted = await purge_idle(any_db_assistant.db, any_db_assistant.sessions, timedelta(days=30))
    assert deleted == 1
    assert await conversation_keys(any_db_assistant) == {"rest:recent"}
    async with any_db_assistant.sessions() as session:
        audit = (await session.scalars(select(AuditEntry))).all()
    assert [(a.actor, a.action) for a in audit] == [("retention", "purge_idle")]
    # Writing again after deletion starts afresh, politely.
    assert await abandoned.say("你好")


async def test_the_server_deletes_idle_conversations_without_anyone_writing(
    aiohttp_client: AiohttpClient, settings: Settings, assistant: Assistant
) -> None:
    resident = Resident(assistant, "gone")
    await resident.say("我想登记一下家里的困难")
    await make_idle(assistant, "rest:gone", days=45)
    await aiohttp_client(await create_app(settings, assistant=assistant, background_jobs=True))
    for _ in range(100):
        if "rest:gone" not in await conversation_keys(assistant):
            break
        await asyncio.sleep(0.05)
    assert "rest:gone" not in await conversation_keys(assistant)


def test_forget_deletes_one_residents_data_on_request_and_audits_it(
    tmp_path: Path,
    model_cache: Path,
    brain: Brain,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sqlite_settings(tmp_path / "zhaoren.db", model_cache)

    async def two_residents() -> list[Any]:
        assistant = await open_assistant(settings, brain)
        try:
            for sender in ("forget-me", "keep-me"):
                resident = Resident(assistant, sender)
                await report_until_consent(resident)
                await resident.press("同意")
                reply = await resident.say("/deny")
                assert re.search(r"L-\d{8}-\d+", reply), reply
                if sender == "keep-me":
                    break
                # The same resident's second conversation, on another channel.
                await Resident(assistant, "forget-me-too", channel="web").say(f"我电话是{PHONE}")
            async with assistant.sessions() as session:
                return list((await session.scalars(select(Lead))).all())
        finally:
            await assistant.close()

    leads = asyncio.run(two_residents())
    assert len(leads) == 2  # same phone, two conversations: two leads
    monkeypatch.setenv("ZHAOREN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ZHAOREN_CACHE_DIR", str(model_cache))
    code = zhaoren(["forget", "--lead", leads[0].id, "--by", "街道救助站 王", "--yes"])
    assert code == 0
    assert "Deleted 1 conversations and 1 leads" in capsys.readouterr().out

    async def what_is_left() -> tuple[set[str], list[str], list[AuditEntry]]:
        assistant = await open_assistant(settings, brain)
        try:
            async with assistant.sessions() as session:
                keys = set((await session.scalars(select(Conversation.key))).all())
                left = [lead.id for lead in (await session.scalars(select(Lead))).all()]
                audit = list((await session.scalars(select(AuditEntry))).all())
            return keys, left, audit
        finally:
            await assistant.close()

    keys, left, audit = asyncio.run(what_is_left())
    assert "rest:forget-me" not in keys and "rest:keep-me" in keys
    assert left == [leads[1].id]
    assert [(a.actor, a.action) for a in audit] == [("街道救助站 王", "forget")]
    assert PHONE not in audit[0].detail and leads[0].id in audit[0].detail


def test_forget_without_saying_whom_deletes_nothing(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHAOREN_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    assert zhaoren(["forget", "--by", "王", "--yes"]) == 2
    assert zhaoren(["forget", "--lead", "not-a-lead", "--by", "王", "--yes"]) == 2
