"""Hostile or odd input is answered like any other message: quickly, politely, losing nothing.

The time caps here are far above what a linear-time pattern needs (a few milliseconds) and
far below what a backtracking one took (minutes): they catch the kind of defect, they do not
measure speed (``python -m bench adversarial`` does that).
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from bot.assembly import Assistant
from dialogues.reading import read_message
from nlu.numbers import NUMBER_PATTERN, parse_number
from tests.test_dialogues.helpers import Resident

GENEROUS_SECONDS = 5.0

RUNS = [
    "万" * 2000,
    "一" * 2000,
    "两千多" * 600,
    "十" * 2000,
    "1" * 2000,
    "1.1" * 600,
    "一点" * 1000,
    "想要" * 28 + "呀",
    "想要" * 900 + "呀",
]


def finishes_within(seconds: float, work: object) -> bool:
    """Run ``work`` in a daemon thread; False if it is still running after ``seconds``."""
    assert callable(work)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


@pytest.mark.parametrize("text", RUNS, ids=lambda t: f"{t[:4]}x{len(t)}")
def test_reading_a_number_never_stalls_on_long_runs(text: str) -> None:
    pattern = re.compile(rf"(?P<n>{NUMBER_PATTERN})\s*(?:个|口)")
    assert finishes_within(GENEROUS_SECONDS, lambda: (pattern.search(text), pattern.findall(text)))


@pytest.mark.parametrize("text", ["一" * 310, "9" * 4301, "万" * 50, "1" * 400 + "万"])
def test_absurd_numbers_are_not_amounts(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三千五", 3500),
        ("两千多", 2000),
        ("1.2万", 12000),
        ("2千3", 2300),
        ("五六千", 5000),
        ("十几万", 100000),
        ("贰仟伍佰", 2500),
        ("七十多", 70),
    ],
)
def test_everyday_numbers_still_read(text: str, value: int) -> None:
    match = re.search(NUMBER_PATTERN, f"大概{text}吧")
    assert match is not None and parse_number(match.group(0)) == value


@pytest.mark.parametrize("text", RUNS[:5], ids=lambda t: f"{t[:4]}x{len(t)}")
def test_household_answer_of_numeral_runs_is_read_quickly(assistant: Assistant, text: str) -> None:
    rules = assistant.brain.rules
    parse = assistant.brain.nlu.parse
    assert finishes_within(GENEROUS_SECONDS, lambda: read_message(parse(text), rules, "household"))


async def test_a_numeral_flood_as_the_household_answer_gets_a_reply(assistant: Assistant) -> None:
    resident = Resident(assistant, "flood")
    assert "哪个区" in await resident.say("要登记")
    assert "几口人" in await resident.say("浦东新区花木街道")
    started = time.perf_counter()
    reply = await resident.say("万" * 2000)
    assert time.perf_counter() - started < GENEROUS_SECONDS
    assert "几口人" in reply  # the question is asked again: a flood is not a household
    # Nothing was lost: the report goes on from where it was.
    assert "收入" in await resident.say("3个人")


@pytest.mark.parametrize(
    "payload",
    [
        '/affirm{"step": []}',
        '/affirm{"step": {}}',
        '/choose{"policy": ["dibao"]}',
        '/ask_policy{"aspect": 5}',
        '/affirm{"step": null}',
    ],
)
async def test_hand_made_button_payloads_get_a_polite_reply(
    assistant: Assistant, payload: str
) -> None:
    replies = await assistant.engine.handle("rest", "payload", payload)
    assert replies and replies[0].text.strip()
