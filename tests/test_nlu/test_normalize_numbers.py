import pytest

from nlu.normalize import normalize
from nlu.numbers import parse_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("我要申請低保", "我要申请低保"),
        ("醫療救助怎麼辦", "医疗救助怎么办"),
        ("电话１３８１２３４５６７８", "电话13812345678"),
        ("ＡＢＣ，？", "abc,?"),
        ("低保\x00\x07怎么办", "低保  怎么办"),
    ],
)
def test_normalize_folds_traditional_width_and_control_characters(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_keeps_length_so_offsets_stay_valid() -> None:
    for raw in ["我要申請低保", "㈠㈡①②", "ﬁ ligature", "🙂🙂低保", "\u202e\u200b"]:
        assert len(normalize(raw)) == len(raw)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("三千五", 3500),
        ("两千多", 2000),
        ("七十多", 70),
        ("1.2万", 12000),
        ("2k", 2000),
        ("一万二", 12000),
        ("3000", 3000),
        ("三十来", 30),
        ("两", 2),
        ("八百出头", 800),
    ],
)
def test_parse_number_reads_colloquial_numbers(expression: str, value: int) -> None:
    assert parse_number(expression) == value


@pytest.mark.parametrize("expression", ["", "多", "abc", "万万"])
def test_parse_number_rejects_non_numbers(expression: str) -> None:
    assert parse_number(expression) is None
