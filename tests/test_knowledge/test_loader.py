import shutil
from pathlib import Path

import pytest

from knowledge.errors import KnowledgeError
from knowledge.loader import KNOWLEDGE_DIR, load_knowledge
from knowledge.schema import ASPECTS, POLICY_IDS


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_every_contract_policy_loads_with_cited_answers() -> None:
    kb = load_knowledge()
    assert list(kb.policies) == list(POLICY_IDS)
    for policy in kb.policies.values():
        assert "overview" in policy.answers, policy.id
        for aspect, answer in policy.answers.items():
            assert aspect in ASPECTS
            assert answer.cite, (policy.id, aspect)
            assert answer.references().startswith("《")


def test_seed_facts_are_in_the_changning_overlay_only() -> None:
    kb = load_knowledge()
    changning = kb.region_by_id("changning")
    suining = kb.region_by_id("suining")
    assert changning is not None and suining is not None
    recheck = kb.answer("dibao", "recheck", changning)
    assert recheck is not None and "每半年" in recheck.text and "每年" in recheck.text
    linshi = kb.answer("linshi", "process", changning)
    assert linshi is not None and "小金额先行救助" in linshi.text
    tekun = kb.answer("tekun", "eligibility", changning)
    assert tekun is not None and "18" in tekun.text
    # Elsewhere the 长宁 rules are not told as if they were local.
    elsewhere = kb.answer("dibao", "recheck", suining)
    assert elsewhere is not None and "每半年" not in elsewhere.text
    for policy in kb.policies.values():
        for aspect, answer in policy.answers.items():
            assert "长宁" not in answer.text and "本区" not in answer.text, (policy.id, aspect)


def test_answers_never_quote_an_amount_of_money() -> None:
    """Standards are local: the knowledge base says where they are published, not a figure."""
    import re

    kb = load_knowledge()
    for policy in kb.policies.values():
        for aspect, answer in policy.answers.items():
            assert not re.search(r"\d+\s*元|[一二三四五六七八九十百千万]+元", answer.text), (
                policy.id,
                aspect,
                answer.text,
            )


def test_region_overlay_changes_the_local_helper_title() -> None:
    kb = load_knowledge()
    changning = kb.place("长宁区")
    suining = kb.place("船山区")
    assert changning is not None and changning.region.helper_title == "社区救助顾问"
    assert suining is not None and suining.region.helper_title == "救助协理员"
    street = kb.place(None, "新华路街道")
    assert street is not None and street.district == "长宁区"


def test_unknown_key_is_reported_with_file_and_key(kb_copy: Path) -> None:
    path = kb_copy / "policies" / "dibao.yml"
    path.write_text(
        path.read_text(encoding="utf-8") + "\nfavourite_colour: red\n", encoding="utf-8"
    )
    with pytest.raises(
        KnowledgeError, match=r"dibao\.yml: top level: unknown key 'favourite_colour'"
    ):
        load_knowledge(kb_copy)


def test_missing_sources_are_reported(kb_copy: Path) -> None:
    path = kb_copy / "policies" / "linshi.yml"
    path.write_text(
        "id: linshi\nname: 临时救助\nanswers:\n  overview:\n    text: 说明\n", encoding="utf-8"
    )
    with pytest.raises(
        KnowledgeError, match=r"linshi\.yml: answers\.overview\.cite: missing sources"
    ):
        load_knowledge(kb_copy)


def test_unknown_source_is_reported(kb_copy: Path) -> None:
    path = kb_copy / "policies" / "falv.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("source: changning-2021", "source: made-up", 1), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="unknown source 'made-up'"):
        load_knowledge(kb_copy)


def test_a_missing_policy_file_is_reported(kb_copy: Path) -> None:
    (kb_copy / "policies" / "binzang.yml").unlink()
    with pytest.raises(KnowledgeError, match="binzang"):
        load_knowledge(kb_copy)
