"""The held-out sets never leak into what the system is built from.

``tests/data/understanding/heldout.yml`` and ``tests/data/real_questions/questions.yml``
measure the system; if their messages turn up as training examples or in the dialogue and
knowledge files, the measurement is worth nothing.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialogues.commands import KINDS
from knowledge.loader import load_knowledge
from nlu.normalize import normalize
from nlu.training_data import load

ROOT = Path(__file__).resolve().parents[2]
UNDERSTANDING = ROOT / "tests" / "data" / "understanding"
HELDOUT_FILE = UNDERSTANDING / "heldout.yml"
DEV_FILE = UNDERSTANDING / "dev.yml"
REAL_QUESTIONS_FILE = ROOT / "tests" / "data" / "real_questions" / "questions.yml"
NLU_DATA = ROOT / "nlu" / "data"
# Files the system is built from, searched for held-out text as a substring.
BUILT_FROM = (
    sorted((ROOT / "dialogues").glob("*.yml"))
    + sorted((ROOT / "dialogues" / "flows").glob("*.yml"))
    + sorted((ROOT / "knowledge").rglob("*.yml"))
)
# One-word answers (中, 没有, 长宁区) legitimately appear in content files.
MIN_SUBSTRING_CHARS = 6


def key(text: str) -> str:
    """Simplified characters, lower case, without spaces or punctuation."""
    return "".join(
        ch
        for ch in normalize(text)
        if not ch.isspace() and unicodedata.category(ch)[0] not in {"P", "Z", "S"}
    )


def place_names() -> list[str]:
    """The knowledge base's districts and streets, longest first (as keys)."""
    names = {key(surface) for surface, _, _ in load_knowledge().district_terms()}
    return sorted((n for n in names if n), key=len, reverse=True)


def only_place_names(text: str, places: list[str]) -> bool:
    """True if ``text`` is nothing but district and street names of the knowledge base.

    The knowledge base lists every street it serves, and the intake's example names one: a
    held-out answer such as 「潍坊新村街道」 is found there because it is a place, not a leak.
    """
    rest = key(text)
    for place in places:
        rest = rest.replace(place, "")
    return not rest


def read_yaml(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, list) and data, f"{path} should hold a non-empty list"
    return data


# The fresh crisis set was written after all tuning and is never tuned on: held out too.
HELDOUT = read_yaml(HELDOUT_FILE) + read_yaml(UNDERSTANDING / "fresh_crisis.yml")
DEV_CRISIS_FILE = UNDERSTANDING / "dev_crisis.yml"
DEV = read_yaml(DEV_FILE) + read_yaml(DEV_CRISIS_FILE)
REAL_QUESTIONS = read_yaml(REAL_QUESTIONS_FILE)


def held_out_texts() -> list[tuple[str, str]]:
    """(where, text) for every held-out message and real question."""
    texts = [(f"heldout {case['id']}", str(case["message"])) for case in HELDOUT]
    texts += [(f"real question {q['id']}", str(q["text"])) for q in REAL_QUESTIONS]
    return texts


def test_the_sets_are_read() -> None:
    assert len(HELDOUT) > 100
    assert len(DEV) > 100
    assert len(REAL_QUESTIONS) > 100
    assert len(BUILT_FROM) > 10, BUILT_FROM
    assert key("我想登記一下, 申請救助!") == "我想登记一下申请救助"
    assert key("OK 好的。") == "ok好的"
    places = place_names()
    assert only_place_names("長寧區 新華路街道", places)
    assert not only_place_names("我住长宁区新华路街道,老伴住院了", places)


def test_held_out_texts_are_not_training_examples() -> None:
    data = load(NLU_DATA)
    assert data.examples, "no training examples read from nlu/data"
    trained: dict[str, str] = {}
    for example in data.examples:
        trained.setdefault(key(example.text), f"{example.intent}: {example.text}")
    leaks = [
        f"{where} {text!r} is a training example ({trained[key(text)]})"
        for where, text in held_out_texts()
        if key(text) and key(text) in trained
    ]
    assert not leaks, f"{len(leaks)} held-out texts in nlu/data:\n" + "\n".join(leaks)


def test_held_out_texts_are_not_in_dialogue_or_knowledge_files() -> None:
    files = {path: key(path.read_text(encoding="utf-8")) for path in BUILT_FROM}
    places = place_names()
    leaks = [
        f"{where} {text!r} appears in {path.relative_to(ROOT)}"
        for where, text in held_out_texts()
        if len(key(text)) >= MIN_SUBSTRING_CHARS and not only_place_names(text, places)
        for path, content in files.items()
        if key(text) in content
    ]
    assert not leaks, f"{len(leaks)} held-out texts in content files:\n" + "\n".join(leaks)


def test_heldout_and_dev_share_no_message() -> None:
    dev = {key(str(case["message"])): case["id"] for case in DEV}
    shared = [
        f"{case['id']} = {dev[key(str(case['message']))]}: {case['message']!r}"
        for case in HELDOUT
        if key(str(case["message"])) in dev
    ]
    assert not shared, "messages in both heldout.yml and dev.yml:\n" + "\n".join(shared)


def test_every_real_question_has_a_web_source() -> None:
    missing = [
        f"{q['id']}: {q.get('source')!r}"
        for q in REAL_QUESTIONS
        if not str(q.get("source") or "").startswith("http")
    ]
    assert not missing, "real questions without an http source:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "path", [HELDOUT_FILE, DEV_FILE, DEV_CRISIS_FILE], ids=["heldout", "dev", "dev_crisis"]
)
def test_understanding_sets_use_known_command_kinds(path: Path) -> None:
    unknown = [
        f"{case['id']}: {kind!r}"
        for case in read_yaml(path)
        for kind in case["expect"]["commands"]
        if kind not in KINDS
    ]
    assert not unknown, "command kinds not in dialogues.commands.KINDS:\n" + "\n".join(unknown)
