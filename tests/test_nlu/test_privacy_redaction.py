"""Residents' phone, ID and card numbers never reach a caseworker unmasked, however written.

``redact`` runs on what a resident says before it is stored in a lead (needs, summary,
transcript), which every caseworker of the district reads. The property tests write real-shaped
numbers the ways residents and a security probe write them; the table of ordinary sentences
checks that amounts, ages, dates and addresses stay readable.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlu.privacy import mask_phone, redact

# The test's own reading of digits, written out independently of nlu/privacy.py.
CHINESE = {
    "0": ["零", "〇", "洞"],
    "1": ["一", "幺", "壹"],
    "2": ["二", "两", "贰"],
    "3": ["三", "叁"],
    "4": ["四", "肆"],
    "5": ["五", "伍"],
    "6": ["六", "陆"],
    "7": ["七", "拐", "柒"],
    "8": ["八", "捌"],
    "9": ["九", "勾", "玖"],
}
FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
READ_AS_DIGIT = {c: d for d, cs in CHINESE.items() for c in cs} | {"○": "0"}
SEPARATORS = [" ", "\u3000", "-", "—", "–", "ー", "－", ".", "/", "_", "  ", " - ", "．", "／"]
IGNORED_WHEN_READING = set("".join(SEPARATORS)) | set("()（）")
X_FORMS = ["X", "x", "Ｘ", "ｘ"]

PHONE_PREFIXES = ["", "tel", "TEL:", "Tel: ", "wx", "vx", "qq", "QQ:", "手机", "手机号",
                  "电话", "电话：", "call me ", "微信号 ", "我的号码是"]  # fmt: skip
ID_PREFIXES = ["", "身份证", "身份证号:", "ID", "证件号码 ", "sfz"]
CARD_PREFIXES = ["", "卡号", "银行卡 ", "card:", "工资卡是"]
LOCAL_CONTEXT = ["电话", "座机", "打", "拨", "联系电话：", "tel ", "电话号码是 "]
BEFORE = [
    "",
    "我叫王秀英，",
    "有事找我儿子",
    "老伴住院了钱不够，",
    "我今年七十多岁了，",
    "麻烦你们 ",
]
AFTER = [
    "",
    "，谢谢",
    "。一个人住",
    " 一个人住",
    "，家里五口人",
    "，每月2000元",
    "！",
    " 白天打不通",
]
AREA_CODES = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029",
              "0755", "0571", "0512", "0431", "0991", "0898"]  # fmt: skip


def read_digits(text: str) -> str:
    """Every digit in any script as an ASCII digit, X as X, separators dropped."""
    out = []
    for ch in text:
        if ch in READ_AS_DIGIT:
            out.append(READ_AS_DIGIT[ch])
        elif unicodedata.decimal(ch, None) is not None:
            out.append(str(unicodedata.decimal(ch)))
        elif ch in "XxＸｘ":
            out.append("X")
        elif ch not in IGNORED_WHEN_READING:
            out.append(ch)
    return "".join(out)


def id_check(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def luhn_check(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (1 if i % 2 else 2)
        total += n - 9 if n > 9 else n
    return str(-total % 10)


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


mobiles = st.builds(
    lambda second, rest: "1" + second + rest, st.sampled_from("3456789"), digits(9)
)
birthdays = st.dates(dt.date(1930, 1, 1), dt.date(2020, 12, 31))
regions = st.integers(110000, 659999).map(str)
ids18 = st.builds(
    lambda region, born, seq: (body := region + born.strftime("%Y%m%d") + seq) + id_check(body),
    regions,
    birthdays,
    digits(3),
)
ids15 = st.builds(lambda region, born, seq: region + born.strftime("%y%m%d") + seq, regions,
                  birthdays, digits(3))  # fmt: skip


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["62", "4", "5", "60", "9"]))
    length = draw(st.integers(16, 19))
    body = prefix + draw(digits(length - 1 - len(prefix)))
    return body + luhn_check(body)


@st.composite
def landlines(draw: st.DrawFn) -> tuple[str, str]:
    """(area code, local number)."""
    area = draw(st.sampled_from(AREA_CODES))
    local_length = 8 if len(area) == 3 else draw(st.sampled_from([7, 8]))
    local = draw(st.sampled_from("2345678")) + draw(digits(local_length - 1))
    return area, local


@st.composite
def written(draw: st.DrawFn, number: str, standard: list[int]) -> str:
    """``number`` in one digit script, grouped one way with one separator."""
    script = draw(st.sampled_from(["arabic", "full-width", "chinese", "mixed"]))
    chars = []
    for d in number:
        if d == "X":
            chars.append(draw(st.sampled_from(X_FORMS)))
            continue
        forms = {
            "arabic": [d],
            "full-width": [FULL_WIDTH[d]],
            "chinese": CHINESE[d],
            "mixed": [d, FULL_WIDTH[d], *CHINESE[d]],
        }[script]
        chars.append(draw(st.sampled_from(forms)))
    grouping = draw(st.sampled_from(["none", "standard", "each", "irregular"]))
    if grouping == "none":
        return "".join(chars)
    if grouping == "standard":
        sizes = standard
    elif grouping == "each":
        sizes = [1] * len(chars)
    else:
        sizes = []
        while sum(sizes) < len(chars):
            sizes.append(draw(st.integers(1, 8)))
    separator = draw(st.sampled_from(SEPARATORS))
    groups, at = [], 0
    for size in sizes:
        groups.append("".join(chars[at : at + size]))
        at += size
    return separator.join(g for g in groups if g)


@st.composite
def in_a_sentence(draw: st.DrawFn, number: str, prefixes: list[str]) -> str:
    return (
        draw(st.sampled_from(BEFORE))
        + draw(st.sampled_from(prefixes))
        + number
        + draw(st.sampled_from(AFTER))
    )


def assert_hidden(original: str, out: str) -> None:
    seen = read_digits(out)
    for i in range(len(original) - 6):
        assert original[i : i + 7] not in seen, f"{original[i : i + 7]} visible in {out!r}"


PROPERTY = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(st.data(), mobiles)
def test_a_mobile_number_is_masked_however_it_is_written(data: st.DataObject, phone: str) -> None:
    text = data.draw(in_a_sentence(data.draw(written(phone, [3, 4, 4])), PHONE_PREFIXES))
    out = redact(text)
    assert_hidden(phone, out)
    assert phone[-4:] in read_digits(out), f"last four of {phone} gone from {out!r}"
    assert redact(out) == out


@PROPERTY
@given(st.data(), mobiles)
def test_mask_phone_reads_a_mobile_number_in_any_form(data: st.DataObject, phone: str) -> None:
    text = data.draw(st.sampled_from(PHONE_PREFIXES)) + data.draw(written(phone, [3, 4, 4]))
    assert mask_phone(text) == f"{phone[:3]}****{phone[-4:]}"


@PROPERTY
@given(st.data(), st.one_of(ids18, ids15), st.booleans())
def test_an_id_number_is_masked_however_it_is_written(
    data: st.DataObject, number: str, lower_x: bool
) -> None:
    standard = [6, 8, 4] if len(number) == 18 else [6, 6, 3]
    text = data.draw(in_a_sentence(data.draw(written(number, standard)), ID_PREFIXES))
    out = redact(text)
    assert_hidden(number, out)
    assert number[-4:] in read_digits(out), f"last four of {number} gone from {out!r}"


@PROPERTY
@given(st.data(), cards())
def test_a_bank_card_number_is_masked_however_it_is_written(
    data: st.DataObject, card: str
) -> None:
    text = data.draw(in_a_sentence(data.draw(written(card, [4, 4, 4, 4, 3])), CARD_PREFIXES))
    out = redact(text)
    assert_hidden(card, out)
    assert card[-4:] in read_digits(out), f"last four of {card} gone from {out!r}"


@PROPERTY
@given(st.data(), landlines(), st.booleans())
def test_a_landline_is_masked_with_its_area_code_or_where_called_a_phone(
    data: st.DataObject, landline: tuple[str, str], with_area_code: bool
) -> None:
    area, local = landline
    if with_area_code:
        number = area + local
        shape = data.draw(st.sampled_from(["written", "(area)", "（area）"]))
        if shape == "written":
            rendered = data.draw(written(number, [len(area), len(local)]))
        else:
            rendered = shape.replace("area", area) + data.draw(written(local, [4, len(local) - 4]))
        text = data.draw(in_a_sentence(rendered, PHONE_PREFIXES))
    else:
        number = local
        rendered = data.draw(written(local, [len(local) - 4, 4]))
        text = data.draw(in_a_sentence(rendered, LOCAL_CONTEXT))
    out = redact(text)
    assert_hidden(number, out)
    assert number[-4:] in read_digits(out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我电话一三八一二三四五六七八", "我电话138****5678"),
        ("幺三八幺两三四五六拐八", "138****5678"),
        ("幺叁捌壹贰叁肆伍陆柒捌", "138****5678"),
        ("138一二三四5678", "138****5678"),
        ("一三九洞洞洞洞幺两三四", "139****1234"),
        ("tel13812345678", "tel138****5678"),
        ("TEL:138-1234-5678", "TEL:138****5678"),
        ("wx13812345678 vx13912345678", "wx138****5678 vx139****5678"),
        ("手机号138 1234 5678", "手机号138****5678"),
        ("1 3 8 1 2 3 4 5 6 7 8", "138****5678"),
        ("138—1234—5678", "138****5678"),
        ("138–1234–5678", "138****5678"),
        ("138ー1234ー5678", "138****5678"),
        ("138.1234.5678 / 138/1234/5678", "138****5678 / 138****5678"),
        ("138_1234_5678", "138****5678"),
        ("(138)1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("１３８　１２３４－５６７８", "138****5678"),
        ("身份证11010519491231002X", "身份证110****002X"),
        ("身份证 110105 19491231 002x", "身份证 110****002X"),
        ("老身份证110105491231002", "老身份证110****1002"),
        ("卡号6222 0212 3456 7890 123", "卡号622****0123"),
        ("座机021-12345678", "座机021****5678"),
        ("(0755)12345678", "075****5678"),
        ("010 1234 5678", "010****5678"),
        ("有事打我家电话62345678", "有事打我家电话****5678"),
        ("拨6234567找我", "拨****4567找我"),
        ("62345678是我家座机", "****5678是我家座机"),
        ("2026-11-21 13812345678", "2026-11-21 138****5678"),
        ("13812345678 2000元", "138****5678 2000元"),
        ("138 1234 5678 一个人住", "138****5678 一个人住"),
        ("13812345678 13912345678", "138****5678 139****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
    ],
)
def test_numbers_are_masked_keeping_first_three_and_last_four(text: str, expected: str) -> None:
    assert redact(text) == expected


# What a caseworker must still read: amounts, ages, dates, years, addresses, counts.
HARMLESS = [
    "老伴住院花了三万二千多",
    "2023年12月办的低保",
    "住3号楼2单元501",
    "一个月一千八百五",
    "我今年七十多岁了，一个人住",
    "一家五口人，两个孩子上学",
    "每月退休金2000元",
    "存款只有1.5万",
    "房租一个月三千五",
    "2026年11月21日去医院复查",
    "复查约在2026-11-21",
    "2019年查出来糖尿病",
    "医药费自付了百分之六十",
    "医保报销了70%，剩下的自己出",
    "老伴今年82岁，我79岁",
    "孩子6岁，上一年级",
    "住在幸福小区12栋3单元1102室",
    "每个月药费要八九百",
    "借了亲戚五六万块",
    "一天三顿都吃不上",
    "欠了物业费4800元",
    "2020年下岗以后就没工作了",
    "残疾证是2015年办的，二级",
    "孙子读高三，学费一年六千",
    "住院押金要交10000元",
    "社区王主任说让我打12345问问",
    "我住2号楼，门牌号是3-502",
    "一个人住，房子40平米",
    "每月收入不到1500",
    "2024.3-2024.12 在医院住了好几次",
    "2023.01.01-2023.12.31的银行流水都有",
    "2023-1-5到2023-3-8住院",
    "老伴2021年中风，瘫了三年",
    "两个孩子，一个8岁一个11岁",
    "打了三次电话都没人接",
    "拨款下来是3000块",
    "医保报了六成，自己掏了两万多",
    "我们家4口人，年收入3万多",
    "买药花了256.5元",
    "2022年到2024年一直在打零工",
    "去年冬天零下十几度，暖气费交了2400",
    "第一次申请是2019年5月",
    "低保金从650涨到了720",
    "身高一米六五，体重四十五公斤",
    "家里五六口人挤在20平的房子里",
    "每周透析三次，一次四五百",
    "我1958年出生的",
    "上个月电费交了135.8元",
    "联系了3次街道，都说再等等",
    "电话费一个月50块",
    "微信上转了2000给他",
    "手机坏了，修要三百",
    "我家门牌是88号，邮编200051",
    "大概1/3的钱都花在看病上",
    "房子卖了120万，还了1500000的债",
    "2026/11/21 上午十点 到民政局",
    "2026-11-21 10:23:45,123 INFO zhaoren.bot: reply sent",
    "三三两两来了几个人",
    "一五一十都跟社区说了",
]


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_sentences_stay_as_they_were(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("13812345678", "138****5678"),
        ("幺三八一二三四五六七八", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("tel:138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("0086-13812345678", "138****5678"),
        ("021-62345678", "021****5678"),
        ("（0755）1234 5678", "075****5678"),
        ("62345678", "****5678"),
        ("6234567", "****4567"),
        ("12345", "****"),
        ("", "****"),
    ],
)
def test_mask_phone_on_every_form(phone: str, expected: str) -> None:
    assert mask_phone(phone) == expected
