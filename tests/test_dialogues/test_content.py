"""Dialogue files are checked at start-up: a typo fails loudly, naming file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.assembly import Brain
from dialogues.content import DIALOGUES_DIR, load_content
from dialogues.errors import FlowError


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    target = tmp_path / "dialogues"
    shutil.copytree(DIALOGUES_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_project_content_loads_and_knows_every_nlu_intent(brain: Brain) -> None:
    content = load_content(nlu_intents=brain.nlu.intents)
    assert [s.kind for s in content.flow.slots][:2] == ["place", "household"]


def test_an_unknown_slot_kind_is_reported(content_copy: Path) -> None:
    edit(content_copy / "flows" / "intake.yml", "kind: urgency", "kind: urgancy")
    with pytest.raises(FlowError, match=r"intake\.yml: slots\[5\]\.kind: unknown kind 'urgancy'"):
        load_content(content_copy)


def test_a_missing_flow_text_is_reported(content_copy: Path) -> None:
    edit(content_copy / "flows" / "intake.yml", "consent_charity:", "consent_charty:")
    with pytest.raises(FlowError, match=r"intake\.yml: consent_charity: missing"):
        load_content(content_copy)


def test_a_missing_response_is_reported(content_copy: Path) -> None:
    edit(content_copy / "domain.yml", "utter_dont_know:", "utter_dont_knw:")
    with pytest.raises(FlowError, match=r"domain\.yml: responses\.utter_dont_know: missing"):
        load_content(content_copy)


def test_an_unquoted_comma_in_a_button_title_is_reported(content_copy: Path) -> None:
    edit(content_copy / "flows" / "intake.yml", '"对,没问题"', "对,没问题")
    with pytest.raises(FlowError, match="quote titles with commas"):
        load_content(content_copy)


def test_an_nlu_intent_without_a_domain_entry_is_reported(content_copy: Path) -> None:
    with pytest.raises(FlowError, match="NLU intent 'order_pizza' missing"):
        load_content(content_copy, nlu_intents=["greet", "order_pizza"])


def test_a_question_can_be_reworded_without_code(content_copy: Path) -> None:
    edit(content_copy / "flows" / "intake.yml", "您住在哪个区、哪个街道(镇)?", "请问您家住哪儿?")
    assert load_content(content_copy).flow.slot("place").question == "请问您家住哪儿?"
