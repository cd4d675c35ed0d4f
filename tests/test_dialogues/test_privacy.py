"""Phone and ID numbers never reach the logs; lists mask them."""

from __future__ import annotations

import logging

import pytest

from bot.assembly import Assistant
from bot.logs import RedactingFilter
from tests.test_dialogues.helpers import Resident


async def test_a_whole_intake_logs_no_phone_or_id_number(
    any_db_assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = any_db_assistant  # PostgreSQL's driver logs too
    caplog.set_level(logging.INFO)  # the level `zhaoren serve` runs at
    resident = Resident(assistant, "private")
    await resident.say("我住长宁区新华路街道,一个人,身份证11010519491231002X")
    await resident.say("没有")
    await resident.say("没有")
    await resident.say("看病")
    await resident.say("比较急")
    summary = await resident.say("13812345678")
    assert "138****5678" in summary and "13812345678" not in summary
    await resident.press("对")
    await resident.press("同意")
    await resident.say("/deny")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "13812345678" not in logged
    assert "11010519491231002X" not in logged


def test_redaction_masks_numbers_whoever_logs_them() -> None:
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "caller %s id %s tel %s",
        ("13812345678", "11010519491231002X", "021-62345678"),
        None,
    )
    RedactingFilter().filter(record)
    message = record.getMessage()
    assert message == "caller 138****5678 id 110****002X tel 021****5678"


async def test_numbers_in_the_residents_own_words_are_masked_in_the_lead(
    any_db_assistant: Assistant,
) -> None:
    assistant = any_db_assistant
    resident = Resident(assistant, "own-words")
    await resident.say("我住长宁区新华路街道,两个人,每月三千")
    await resident.say("没有")
    await resident.say("老伴住院了钱不够,有事打我儿子13900001234")
    await resident.say("比较急")
    await resident.say("13812345678")
    await resident.press("对")
    await resident.press("同意")
    await resident.say("/deny")
    (lead,) = await resident.leads()
    assert "13900001234" not in str(lead["needs"]) and "139****1234" in str(lead["needs"])
    assert "13900001234" not in lead["summary"]
