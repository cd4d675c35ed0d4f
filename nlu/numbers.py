"""Read numbers the way residents write them: 三千五, 两千多, 1.2万, 2k, 七十多."""

from __future__ import annotations

import re
from functools import lru_cache

import cn2an

# Digits and Chinese numerals, optionally with a decimal part and a 万/千/k/w multiplier.
# Linear time on any text: a number only starts where a run of digits (or of numerals)
# starts, and its run is taken whole (possessive / atomic), so a search never retries
# every split of a long run ("万" × 2000 took minutes when it could).
_NUMERAL = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
NUMBER_PATTERN = (
    rf"(?:(?<![\d.])\d++(?:[万千]\d(?!\d)|(?:\.\d++)?(?:\s*+[万千百kw])?)|"
    rf"(?<![{_NUMERAL}点几多])(?>[{_NUMERAL}点几多]*[{_NUMERAL}]))"
    r"(?:多|来|余|出头|左右|好几)?"
)
# No resident writes a number longer than this; longer runs are not amounts (and reading
# them could overflow).
MAX_NUMBER_CHARS = 24
# Financial numerals on forms and receipts (贰仟伍佰元), read as everyday ones.
_FINANCIAL = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰仟", "一二三四五六七八九十百千")
_DIGIT_UNIT_DIGIT = re.compile(r"^(\d+)([万千])(\d)$")  # 2千3 → 2300
_APPROX_SUFFIX = re.compile(r"(多|来|余|出头|左右|好几)$")
# 五六千, 七八百: a range of two neighbouring digits; residents mean "about the lower one".
_RANGE = re.compile(r"^([一二三四五六七八九])([二两三四五六七八九])(?=[十百千万])")
_MULTIPLIER = {"万": 10000, "w": 10000, "千": 1000, "k": 1000, "百": 100}


@lru_cache(maxsize=4096)  # a message may repeat a number hundreds of times; cn2an is slow
def parse_number(expression: str) -> int | None:
    """Turn a number expression into an integer, or ``None`` if it is not one.

    Approximate suffixes are dropped: 两千多 → 2000, 七十多 → 70.
    """
    text = _APPROX_SUFFIX.sub("", expression.strip()).replace(" ", "").translate(_FINANCIAL)
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    mixed = _DIGIT_UNIT_DIGIT.match(text)
    if mixed:
        unit = 10000 if mixed.group(2) == "万" else 1000
        return int(mixed.group(1)) * unit + int(mixed.group(3)) * unit // 10
    if text[0].isdigit():
        multiplier = 1
        if text[-1] in _MULTIPLIER:
            multiplier = _MULTIPLIER[text[-1]]
            text = text[:-1]
        try:
            return round(float(text) * multiplier)
        except (ValueError, OverflowError):
            return None
    if text == "两":
        return 2
    text = _RANGE.sub(r"\1", text)
    # 一千二三 → 一千二: the trailing digit of a range after the unit is dropped.
    text = re.sub(r"(?<=[十百千万][一二三四五六七八九])[一二三四五六七八九]$", "", text)
    # 几百, 几千: "a few hundred" is read as its lower bound, one hundred.
    text = re.sub(r"^几(?=[十百千万])", "一", text)
    # 十几万 → 十万, 二十多万 → 二十万: the approximate part is dropped, the unit kept.
    text = re.sub(r"(?<=[十百千万])[几多](?=[十百千万])", "", text)
    text = text.replace("几", "").replace("多", "")
    if not text:
        return None
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError, TypeError, OverflowError):
        return None
    try:
        return round(float(value))
    except OverflowError:
        return None
