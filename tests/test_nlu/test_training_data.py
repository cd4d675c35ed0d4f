from pathlib import Path

import pytest

from nlu.errors import TrainingDataError
from nlu.training_data import load, load_file, parse_example
from tests.test_data.test_sets_stay_apart import TrainingLines

PROJECT = Path(__file__).resolve().parents[2]


def test_parse_example_supports_all_rasa_annotation_forms() -> None:
    example = parse_example(
        '[低保](policy:dibao)[怎么办]{"entity": "aspect", "value": "process"}在[长宁区](district)',
        "ask_policy",
    )
    assert example.text == "低保怎么办在长宁区"
    assert [(a.entity, a.value, example.text[a.start : a.end]) for a in example.entities] == [
        ("policy", "dibao", "低保"),
        ("aspect", "process", "怎么办"),
        ("district", "长宁区", "长宁区"),
    ]


def test_load_reads_intents_synonyms_lookups_and_regexes(tmp_path: Path) -> None:
    (tmp_path / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n    - 在吗\n'
        "- synonym: dibao\n  examples: |\n    - 低保金\n"
        "- lookup: city\n  examples: |\n    - 遂宁\n"
        "- regex: zip\n  examples: |\n    - \\d{6}\n",
        encoding="utf-8",
    )
    data = load(tmp_path)
    assert [e.text for e in data.examples] == ["你好", "在吗"]
    assert data.synonyms == {"低保金": "dibao"}
    assert data.lookups == {"city": ["遂宁"]}
    assert data.regexes == {"zip": ["\\d{6}"]}


def test_a_broken_file_names_the_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intnt: greet\n  examples: |\n    - hi\n')
    with pytest.raises(TrainingDataError, match=r"bad\.yml: nlu\[0\]"):
        load_file(bad)


def test_project_data_has_forty_varied_examples_per_intent() -> None:
    data = load(PROJECT / "nlu" / "data")
    counts: dict[str, int] = {}
    for example in data.examples:
        counts[example.intent] = counts.get(example.intent, 0) + 1
    assert set(counts) >= {
        "greet",
        "goodbye",
        "thanks",
        "affirm",
        "deny",
        "ask_policy",
        "report_need",
        "check_status",
        "ask_human",
        "crisis",
        "offer_help",
        "complaint",
        "out_of_scope",
    }
    assert min(counts.values()) >= 40, counts
    texts = [e.text for e in data.examples]
    assert len(set(texts)) == len(texts), "an example appears twice"


def test_heldout_examples_never_appear_in_training_data() -> None:
    """Compared as the classifier sees them (normalised), and one changed word is a copy."""
    lines = TrainingLines()
    heldout = load(PROJECT / "nlu" / "heldout").examples
    assert len(heldout) > 200
    copies = [
        f"{e.intent}: {e.text!r} copies {copied}"
        for e in heldout
        if (copied := lines.copy_of(e.text, e.intent))
    ]
    assert not copies, "\n".join(copies)
