"""The evaluation sets never leak into what the system is built from.

Every set that measures the system (``tests/data/understanding/*.yml``, the real questions,
the scripted residents, ``nlu/heldout/`` and the contract-example sentences the tests parse)
is compared with the training data ``nlu/data/`` after normalisation (traditional to
simplified, full width to half width, case, spaces and punctuation: ``key``), and a sentence
that is a training line with one word changed counts as a copy too (``near_duplicate``). If
their messages turn up as training examples, or held-out ones in the dialogue and knowledge
files, the measurement is worth nothing.
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
from tests.contract import INTENT_EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
UNDERSTANDING = ROOT / "tests" / "data" / "understanding"
HELDOUT_FILE = UNDERSTANDING / "heldout.yml"
DEV_FILE = UNDERSTANDING / "dev.yml"
REAL_QUESTIONS_FILE = ROOT / "tests" / "data" / "real_questions" / "questions.yml"
RESIDENTS_FILE = ROOT / "tests" / "data" / "residents" / "residents.yml"
NLU_DATA = ROOT / "nlu" / "data"
NLU_HELDOUT = ROOT / "nlu" / "heldout"
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


# A copy with one word changed: the two keys differ in one place only, by at most
# MAX_CHANGED characters on either side (one Chinese word: 啊 added, 咋 for 怎么, 报销 for
# 报, 成都 for 北京), and at least MIN_KEPT characters are the same, in the same order, around
# it. Why not a plain edit distance ≤ 2 or a bigram Jaccard ≥ 0.9: on short Chinese sentences
# an edit distance of 2 anywhere also joins unrelated sentences (帮我登记 / 不用登记), while
# one changed character in a ten-character sentence already drops the bigram Jaccard to
# about 0.6, so 0.9 finds nothing but exact copies. "One contiguous change" is what copying a
# training line and touching it up looks like.
MAX_CHANGED = 2
MIN_KEPT = 4


def near_duplicate(a: str, b: str) -> bool:
    """True if keys ``a`` and ``b`` differ by one word (see MAX_CHANGED, MIN_KEPT)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > MAX_CHANGED:
        return False
    shortest = min(len(a), len(b))
    prefix = 0
    while prefix < shortest and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    kept = prefix + suffix
    return kept >= MIN_KEPT and len(a) - kept <= MAX_CHANGED and len(b) - kept <= MAX_CHANGED


class TrainingLines:
    """The training examples by key, indexed for ``near_duplicate`` look-ups.

    A near duplicate keeps MIN_KEPT ≥ 4 characters around one change, so it shares its first
    two or its last two characters with the training line: only those lines are compared.
    """

    def __init__(self) -> None:
        data = load(NLU_DATA)
        assert data.examples, "no training examples read from nlu/data"
        self.lines: dict[str, tuple[str, str]] = {}
        for example in data.examples:
            self.lines.setdefault(key(example.text), (example.intent, example.text))
        self.by_end: dict[str, list[str]] = {}
        for line in self.lines:
            for end in {"^" + line[:2], line[-2:] + "$"}:
                self.by_end.setdefault(end, []).append(line)

    def copy_of(self, text: str, intent: str | None) -> str | None:
        """The training line ``text`` copies (exactly or but for one word), if any.

        With ``intent`` given, a near duplicate counts only when its intent is the same: 就是
        这个意思 (affirm) beside the training line 不是这个意思 (deny) makes the test harder,
        not easier. An exact copy counts whatever its label.
        """
        k = key(text)
        if not k:
            return None
        if k in self.lines:
            return self._describe(k)
        for line in self.by_end.get("^" + k[:2], []) + self.by_end.get(k[-2:] + "$", []):
            if near_duplicate(k, line) and intent in (None, self.lines[line][0]):
                return "near " + self._describe(line)
        return None

    def _describe(self, line: str) -> str:
        intent, text = self.lines[line]
        return f"{intent}: {text}"


# Contexts in which a message answers a question the assistant asked.
ANSWER_CONTEXTS = ("question:", "confirm", "consent_")


def exempt(text: str, answers_a_question: bool, places: list[str]) -> bool:
    """Texts a copy of which measures nothing, so they are not counted as copies.

    A place name of the knowledge base (长宁区新华路街道) is data, not a sentence: the
    knowledge base teaches the NLU every one of them. A reply of one or two characters to a
    question the assistant asked (没有, 对的, 同意) is read in the context of that question,
    and every natural short reply is also a training line.
    """
    return only_place_names(text, places) or (answers_a_question and len(key(text)) <= 2)


def evaluation_texts() -> list[tuple[str, str, str | None]]:
    """(where, text, intent if the set labels one) for every sentence that measures the system."""
    places = place_names()
    texts: list[tuple[str, str, str | None]] = []
    for path in sorted(UNDERSTANDING.glob("*.yml")):
        for case in read_yaml(path):
            after = str(case["context"]["after"])
            if not exempt(str(case["message"]), after.startswith(ANSWER_CONTEXTS), places):
                texts.append((f"{path.name} {case['id']}", str(case["message"]), None))
    texts += [(f"real question {q['id']}", str(q["text"]), q["intent"]) for q in REAL_QUESTIONS]
    for resident in read_yaml(RESIDENTS_FILE):
        rid = resident["id"]
        texts += [(f"resident {rid} opening", str(m), None) for m in resident["opening"]]
        texts += [
            (f"resident {rid} {slot}", str(answer), None)
            for slot, answer in resident["answers"].items()
            if not exempt(str(answer), True, places)
        ]
    texts += [(f"nlu/heldout {e.intent}", e.text, e.intent) for e in load(NLU_HELDOUT).examples]
    texts += [(f"contract example {i}", t, i) for t, i in INTENT_EXAMPLES]
    return texts


def test_near_duplicate_is_one_changed_word() -> None:
    assert near_duplicate(key("低保怎么申请啊"), key("低保怎么申请"))  # a particle added
    assert near_duplicate(key("低保咋申请"), key("低保怎么申请"))  # one word for another
    assert near_duplicate(key("帮我订张去成都的火车票"), key("帮我订张去北京的火车票"))
    assert near_duplicate(key("那要帶什麼材料?"), key("那要带什么材料"))
    assert not near_duplicate(key("帮我登记"), key("不用登记"))  # only 登记 in common
    assert not near_duplicate(key("我同意的"), key("我不同意"))
    assert not near_duplicate(key("医疗救助怎么申请"), key("临时救助一次给多少"))
    assert not near_duplicate(key("特困供养是什么"), key("特困供养要什么材料"))  # two words


def test_the_guard_sees_every_evaluation_set() -> None:
    where = {w.split(" ")[0] for w, _, _ in evaluation_texts()}
    assert {"heldout.yml", "dev.yml", "dev_crisis.yml", "fresh_crisis.yml"} <= where
    assert {"real", "resident", "nlu/heldout", "contract"} <= where
    lines = TrainingLines()
    assert lines.copy_of("低保怎么申请", None) == "ask_policy: 低保怎么申请"
    assert lines.copy_of("低保怎麼申請啊!", "ask_policy") == "near ask_policy: 低保怎么申请"
    assert lines.copy_of("低保怎麼申請啊!", "greet") is None


def test_evaluation_texts_are_not_training_examples() -> None:
    lines = TrainingLines()
    leaks = [
        f"{where} {text!r} copies the training line ({copied})"
        for where, text, intent in evaluation_texts()
        if (copied := lines.copy_of(text, intent))
    ]
    assert not leaks, f"{len(leaks)} evaluation texts copy nlu/data:\n" + "\n".join(leaks)


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
