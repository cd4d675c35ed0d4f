"""Masking of phone, ID and bank card numbers (logs, lead lists and details, transcripts).

``redact`` runs on what residents say before it is stored, and on every log record. Residents
write a number in many ways: 138-1234-5678, 1 3 8 1 2 3 4 5 6 7 8, full-width １３８…, Chinese
numerals 一三八… or 幺三八… (with 两 2, 拐 7, 勾 9, 洞/零/〇 0, formal 壹…玖), mixed 138一二三四5678,
glued to letters (tel138…, wx138…). How it works, in one pass and in linear time:

1. One regular expression finds *runs*: a digit character (any Unicode decimal digit, or a
   Chinese numeral that names one digit) followed by more digit characters, each after at most
   three separator characters (spaces, dashes of every width, dots, slashes, underscores,
   parentheses). The digit and separator classes are disjoint and the only quantifiers are
   ``*`` over "separators then one digit" and a bounded ``{0,3}``, so the engine never
   backtracks more than three characters: the scan is linear, whatever the message. Letters
   and other characters end a run; there is no look-around, so ``tel13812345678`` is a run.
   Characters that are never digits on their own (十, 百, 千, 万) end a run too, which is why
   amounts (三千五, 一千八百五) and ages (七十多岁) are never runs of more than two digits.
2. Each run is split into *groups* (digits with no separator between them) and read as digit
   values, so every script gives the same digits.
3. Inside a run, dates (2024.3-2024.12, 2026-11-21, one separator each, bordered by a
   different one) are set aside, and so is a last group that a unit follows
   (13812345678 2000元, 138 1234 5678 一个人住) when what remains is a whole number by itself.
4. What is left is masked when it is a number to hide: 11 or more digits (mobile, landline with
   its area code, 15- and 18-character ID numbers, bank cards of 16–19 digits), or 7 to 10
   digits where the text says it is a phone number (电话, 手机, 打, 拨, tel, qq …) and no unit
   says it is an amount. A run holding several numbers (two phones in a row) is peeled one
   number at a time, recognised by its shape: a mobile prefix 13x–19x, an ID checksum, a bank
   card's Luhn digit, a landline's leading 0.

The mask keeps the first 3 and last 4 digits (138****5678, 110****002X) so a caseworker can
match a call-back; numbers of 7 to 10 digits keep only their last 4 (****5678), since 3 + 4
would show nearly all of them. The digits in a mask are always written as Arabic digits,
whatever script the resident used: a caseworker matches them against the phone field, which is
Arabic, and 138****5678 reads the same for 幺三八…, １３８… and 138…. Everything outside a mask
is left exactly as written.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")

# Chinese characters that stand for one digit when residents read a number out digit by
# digit; 十 (ten) and 拾 are left out: they are never a digit of a phone number.
_CHINESE_DIGITS = {
    "0": "零〇○洞",
    "1": "一幺壹",
    "2": "二两兩贰貳",
    "3": "三叁參",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆陸",
    "7": "七拐柒",
    "8": "八捌",
    "9": "九勾玖",
}
_DIGIT_OF = {char: digit for digit, chars in _CHINESE_DIGITS.items() for char in chars}
_DIGIT = r"[\d" + "".join(_DIGIT_OF) + "]"
# Between the digits of one number: spaces of every width, hyphens and dashes (including the
# Japanese long-vowel mark ー that input methods give for a dash), dots, slashes, underscores,
# parentheses and middle dots, ASCII and full-width. Not line breaks, not commas: those
# separate numbers in a list.
_SEPARATORS = (
    " \t\u00a0\u2000-\u200a\u202f\u205f\u3000"
    "\\-\u2010-\u2015\u2212\u30fc\uff0d\uff70"
    ".\uff0e/\uff0f_\uff3f()\uff08\uff09\u00b7\u30fb"
)
_SEPARATOR = f"[{_SEPARATORS}]"
_RUN = re.compile(f"{_DIGIT}(?:{_SEPARATOR}{{0,3}}{_DIGIT})*")
_GROUP = re.compile(f"{_DIGIT}+")
_TRAILING_X = re.compile(f"{_SEPARATOR}{{0,3}}[XxＸｘ]")
_SPACES = re.compile(r"\s+")
_SPACE_CHARS = " \t\u00a0\u3000"
# Words that say a shorter number is a phone number, before it (电话: 62345678) or just
# after it (62345678是我家座机).
_PHONE_WORDS = re.compile(
    "电话|手机|座机|号码|联系|联络|致电|来电|热线|微信|短信|打|拨|"
    "tel|phone|call|mobile|whatsapp|wx|vx|qq",
    re.IGNORECASE,
)
_WORD_BEFORE, _WORD_AFTER = 6, 3
# A number these follow is an amount, a count, an age, a date or an address, not a phone.
_UNITS = frozenset("元块毛角分万千百亿岁年月日号楼栋单层室人口个次位户间套斤克米平度%％多余")
_CURRENCY = frozenset("¥￥$")
_DATE_SEPARATORS = {"-": "-", "－": "-", ".": ".", "．": ".", "/": "/", "／": "/"}
_ARABIC = frozenset("0123456789０１２３４５６７８９")
_PAREN = {"(": ")", "（": "）"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MOBILE_PREFIXES = frozenset(f"1{d}" for d in "3456789")
_MIN_SHORT, _MIN_LONG, _MAX_LONG = 7, 11, 19


@dataclass(frozen=True)
class _Group:
    """Digits written with no separator between them: where, and which digits."""

    start: int
    end: int
    digits: str


class _Digits:
    """The groups of a run with their digit counts summed, to read any stretch cheaply."""

    def __init__(self, groups: list[_Group]) -> None:
        self.groups = groups
        self.before = [0]
        for g in groups:
            self.before.append(self.before[-1] + len(g.digits))

    def size(self, lo: int, hi: int) -> int:
        return self.before[hi] - self.before[lo]

    def digits(self, lo: int, hi: int) -> str:
        return "".join(g.digits for g in self.groups[lo:hi])

    def head(self, lo: int) -> str:
        """The first 3 digits from group ``lo`` on."""
        out = ""
        for g in self.groups[lo : lo + 3]:
            out += g.digits[: 3 - len(out)]
        return out

    def tail(self, hi: int) -> str:
        """The last 4 digits before group ``hi``."""
        out = ""
        for g in reversed(self.groups[max(0, hi - 4) : hi]):
            out = g.digits[max(0, len(g.digits) - (4 - len(out))) :] + out
        return out

    def known_number(self, lo: int, hi: int, *, from_end: bool) -> int | None:
        """Where a known number starting at ``lo`` ends (or ending at ``hi`` starts).

        A mobile number first, then an ID number, a bank card, a landline. Only the first
        (or last) 19 digits are looked at.
        """
        found: dict[str, int] = {}
        digits = ""
        order = range(hi - 1, lo, -1) if from_end else range(lo, hi - 1)
        for i in order:
            group = self.groups[i].digits
            digits = group + digits if from_end else digits + group
            if len(digits) > _MAX_LONG:
                break
            cut = i if from_end else i + 1
            for kind, test in _KNOWN:
                if kind not in found and test(digits):
                    found[kind] = cut
        return next((found[kind] for kind, _ in _KNOWN if kind in found), None)


def _digits_of(chars: str) -> str:
    return "".join(_DIGIT_OF.get(c) or str(unicodedata.decimal(c)) for c in chars)


def _is_mobile(digits: str) -> bool:
    return len(digits) == 11 and digits[:2] in _MOBILE_PREFIXES and digits.isdigit()


def _is_id18(digits: str) -> bool:
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=False))
    return _ID_CHECK[total % 11] == digits[17]


def _is_id15(digits: str) -> bool:
    """An old 15-digit ID: region, then a birth date YYMMDD."""
    if len(digits) != 15 or not digits.isdigit() or digits[0] not in "1234568":
        return False
    return 1 <= int(digits[8:10]) <= 12 and 1 <= int(digits[10:12]) <= 31


def _is_card(digits: str) -> bool:
    """A bank card number: 16 to 19 digits with a valid Luhn check digit."""
    if not 16 <= len(digits) <= _MAX_LONG or not digits.isdigit():
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_landline(digits: str) -> bool:
    return digits[:1] == "0" and 11 <= len(digits) <= 12


def _is_number(digits: str) -> bool:
    """A whole number of a known kind, recognised by its shape."""
    return _is_mobile(digits) or _is_id18(digits) or _is_card(digits) or _is_landline(digits)


def _could_be_one(size: int, first: str) -> bool:
    """Could be one number even without a known shape (a typo, an unknown card)."""
    return size == _MIN_LONG or 15 <= size <= _MAX_LONG or (first == "0" and size <= 14)


_KNOWN = (("mobile", _is_mobile), ("id", _is_id18), ("card", _is_card), ("landline", _is_landline))


def _mask_digits(digits: str) -> str:
    if len(digits) >= _MIN_LONG:
        return f"{digits[:3]}****{digits[-4:]}"
    return f"****{digits[-4:]}"


class _Redactor:
    """One message: its runs, the phone words in it, and the masks decided so far."""

    def __init__(self, text: str) -> None:
        self.text = text
        words = list(_PHONE_WORDS.finditer(text))
        self.word_starts = [m.start() for m in words]
        self.word_ends = [m.end() for m in words]
        self.masks: list[tuple[int, int, str]] = []

    def run(self) -> str:
        for match in _RUN.finditer(self.text):
            groups = self._groups(match)
            for piece in self._pieces(groups):
                self._piece(piece)
        if not self.masks:
            return self.text
        out, last = [], 0
        for start, end, mask in sorted(self.masks):
            out += [self.text[last:start], mask]
            last = end
        out.append(self.text[last:])
        return "".join(out)

    def _groups(self, match: re.Match[str]) -> list[_Group]:
        groups = [
            _Group(m.start(), m.end(), _digits_of(m.group()))
            for m in _GROUP.finditer(self.text, match.start(), match.end())
        ]
        # An ID number's final X belongs to the number only after 17 digits.
        x = _TRAILING_X.match(self.text, match.end())
        if x and sum(len(g.digits) for g in groups) == 17:
            groups.append(_Group(x.end() - 1, x.end(), "X"))
        return groups

    def _separator(self, left: _Group, right: _Group) -> str:
        return self.text[left.end : right.start]

    def _date_end(self, groups: list[_Group], i: int) -> int:
        """Where a date written with digits and one separator ends (2026-11-21), or ``i``."""
        year = groups[i]
        if (
            len(year.digits) != 4
            or year.digits[:2] not in ("19", "20")
            or not set(self.text[year.start : year.end]) <= _ARABIC
            or i + 1 >= len(groups)
        ):
            return i
        sep = _DATE_SEPARATORS.get(self._separator(year, groups[i + 1]))
        if sep is None:
            return i
        end = i + 1
        for limit in (12, 31):
            g = groups[end] if end < len(groups) else None
            if (
                g is None
                or (
                    end > i + 1
                    and _DATE_SEPARATORS.get(self._separator(groups[end - 1], g)) != sep
                )
                or not set(self.text[g.start : g.end]) <= _ARABIC
                or not 1 <= len(g.digits) <= 2
                or not 1 <= int(g.digits) <= limit
            ):
                break
            end += 1
        if end == i + 1:
            return i
        # The same separator on either side: one number in groups, not a date.
        before = i > 0 and _DATE_SEPARATORS.get(self._separator(groups[i - 1], year)) == sep
        after = (
            end < len(groups)
            and _DATE_SEPARATORS.get(self._separator(groups[end - 1], groups[end])) == sep
        )
        return i if before or after else end

    def _pieces(self, groups: list[_Group]) -> list[list[_Group]]:
        """The run without its dates, cut where the dates were."""
        pieces: list[list[_Group]] = [[]]
        i = 0
        while i < len(groups):
            end = self._date_end(groups, i)
            if end > i:
                pieces.append([])
                i = end
            else:
                pieces[-1].append(groups[i])
                i += 1
        return [p for p in pieces if p]

    def _piece(self, groups: list[_Group]) -> None:
        groups = self._without_quantity(groups)
        size = sum(len(g.digits) for g in groups)
        if size < _MIN_SHORT:
            return
        if size < _MIN_LONG:
            if self._said_phone(groups) and not self._amount(groups):
                self._mask(_Digits(groups), 0, len(groups))
            return
        self._peel(_Digits(groups))

    def _without_quantity(self, groups: list[_Group]) -> list[_Group]:
        """Drop a last group that a unit follows: 13812345678 2000元, 电话62345678 一个人住.

        Only after a space, and only when what remains is still a number to mask: a whole
        number by itself if it has 11 digits or more, otherwise a phone number the text names
        (what is left is checked for that as usual) before a count of at most two digits.
        Anything else (138 1234 5678元) stays one number.
        """
        if len(groups) < 2:
            return groups
        last = groups[-1]
        if self.text[last.end : last.end + 1] not in _UNITS or self._separator(
            groups[-2], last
        ).strip(_SPACE_CHARS):
            return groups
        rest = _Digits(groups[:-1])
        size = rest.size(0, len(groups) - 1)
        if size > _MAX_LONG:
            return groups
        if size >= _MIN_LONG:
            digits = rest.digits(0, len(groups) - 1)
            whole = _is_number(digits) or _could_be_one(size, digits[0])
        else:
            whole = size >= _MIN_SHORT and len(last.digits) <= 2
        return groups[:-1] if whole else groups

    def _peel(self, run: _Digits) -> None:
        """Mask one or several numbers written in a row, one whole number at a time.

        Every step looks at no more than 19 digits at either end and masks at least one
        group, so a run of any length is peeled in linear time.
        """
        lo, hi = 0, len(run.groups)
        while lo < hi:
            size = run.size(lo, hi)
            if size < _MIN_LONG:
                # Left over next to a number: shown only if too short to be one.
                if size >= _MIN_SHORT:
                    self._mask(run, lo, hi)
                return
            digits = run.digits(lo, hi) if size <= _MAX_LONG else ""
            if _is_id18(digits) or _is_card(digits):
                self._mask(run, lo, hi)
                return
            # A mobile number written in one piece, then something else (but not an old ID
            # number: 15 digits whose 7th to 12th read as a birth date).
            if not _is_id15(digits) and hi - lo > 1:
                if _is_mobile(run.groups[lo].digits):
                    self._mask(run, lo, lo + 1)
                    lo += 1
                    continue
                if _is_mobile(run.groups[hi - 1].digits):
                    self._mask(run, hi - 1, hi)
                    hi -= 1
                    continue
            if _could_be_one(size, run.head(lo)[:1]):
                self._mask(run, lo, hi)
                return
            cut = run.known_number(lo, hi, from_end=False)
            if cut is not None:
                self._mask(run, lo, cut)
                lo = cut
                continue
            cut = run.known_number(lo, hi, from_end=True)
            if cut is not None:
                self._mask(run, cut, hi)
                hi = cut
                continue
            self._mask(run, lo, hi)
            return

    def _said_phone(self, groups: list[_Group]) -> bool:
        start, end = groups[0].start, groups[-1].end
        i = bisect_right(self.word_ends, start) - 1
        if i >= 0 and start - self.word_ends[i] <= _WORD_BEFORE:
            return True
        j = bisect_left(self.word_starts, end)
        return j < len(self.word_starts) and self.word_starts[j] - end <= _WORD_AFTER

    def _amount(self, groups: list[_Group]) -> bool:
        start, end = groups[0].start, groups[-1].end
        after = _SPACES.sub("", self.text[end : end + 3])[:1]
        before = self.text[start - 1 : start] if start else ""
        return after in _UNITS or before in _CURRENCY

    def _mask(self, run: _Digits, lo: int, hi: int) -> None:
        start, end = run.groups[lo].start, run.groups[hi - 1].end
        # (0755)12345678: the opening parenthesis goes with the closing one inside the mask.
        opening = self.text[start - 1 : start] if start else ""
        if opening in _PAREN and _PAREN[opening] in self.text[start:end]:
            start -= 1
        head = run.head(lo) if run.size(lo, hi) >= _MIN_LONG else ""
        self.masks.append((start, end, f"{head}****{run.tail(hi)}"))


def redact(text: str) -> str:
    """Mask ID, phone and card numbers however they are written: 138****5678, 110****002X.

    See the module docstring for how numbers are found and what stays readable.
    """
    return _Redactor(text).run()


def mask_phone(phone: str) -> str:
    """A phone number as lists and summaries show it: 138****5678.

    Digits in any script count (幺三八…, １３８…); a leading country code 86 or 0086 is
    dropped. Numbers shorter than 11 digits show only their last 4.
    """
    digits = _digits_of("".join(m.group() for m in _GROUP.finditer(phone)))
    for country in ("0086", "86"):
        if digits.startswith(country) and _is_mobile(digits[len(country) :]):
            digits = digits[len(country) :]
    return _mask_digits(digits) if len(digits) >= _MIN_SHORT else "****"
