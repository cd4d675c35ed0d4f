"""Masking of phone, ID and bank card numbers (logs, lead lists and details, transcripts).

``redact`` runs on what residents say before it is stored, and on every log record. Residents
write a number in many ways: 138-1234-5678, 1 3 8 1 2 3 4 5 6 7 8, full-width １３８…, Chinese
numerals 一三八… or 幺三八… (with 两 2, 拐 7, 勾 9, 洞/零/〇 0, formal 壹…玖), mixed 138一二三四5678,
glued to letters (tel138…, wx138…). How they are found, in linear time:

1. **A separator-insensitive view.** ``str.translate`` maps the message, character for
   character (same length, so offsets stay valid), to a view where every digit in any script
   is an ASCII digit, X/x/Ｘ/ｘ is ``X``, every separator is one of ``space - . / _ ( )``
   (spaces of every width; ASCII and full-width hyphens, dots and slashes keep their
   identity because dates use them; other dashes, ー, middle dots and underscores are ``_``)
   and every other character stays as it is. Characters that are never a digit on their own
   (十, 百, 千, 万) stay letters, so amounts (三千五, 一千八百五) and ages (七十多岁) never make
   runs of more than two digits.
2. **One scan for runs.** One regular expression over the view finds every *run*: at least
   seven digits, each group of digits joined to the next by one to three separators. Digits
   and separators are disjoint classes and every repetition is a single class or "separators
   then digits", so the engine never backtracks more than three characters; the look-ahead
   that asks for seven digits reads at most 28. Letters end a run and there is no
   look-behind, so ``tel13812345678`` is a run.
3. **Each run on its own.** A run is split into groups (``str.split`` on its separators), its
   dates set aside (2024.3-2024.12, 2026-11-21: one separator each, bordered by a different
   one), and so is a last group a unit follows (13812345678 2000元, 138 1234 5678 一个人住)
   when what remains is still a number. What is left is masked when it is a number to hide:
   11 digits or more (mobile, landline with its area code, 15- and 18-character ID numbers,
   bank cards of 16–19 digits), or 7 to 10 digits where the text says it is a phone number
   (电话, 手机, 打, 拨, tel, qq … within a few characters) and no unit says it is an amount.
   A run holding several numbers (two phones in a row) is peeled one number at a time,
   recognised by its shape: a mobile prefix 13x–19x, an ID checksum, a bank card's Luhn
   digit, a landline's leading 0. Every step of that looks at no more than 19 digits at either
   end and masks at least one group, and a run of more than 40 digits is masked whole without
   a look inside, so no run costs more than a bounded amount of work per digit.

The mask keeps the first 3 and last 4 digits (138****5678, 110****002X) so a caseworker can
match a call-back; numbers of 7 to 10 digits keep only their last 4 (****5678), since 3 + 4
would show nearly all of them. The digits in a mask are always Arabic, whatever script the
resident used: a caseworker matches them against the phone field, which is Arabic, and
138****5678 reads the same for 幺三八…, １３８… and 138…. Everything outside a mask is left
exactly as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta, timezone
from itertools import accumulate

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
# Between the digits of one number. Not line breaks, not commas: those separate numbers in a
# list. Dates keep their own separator (- . /); the rest are one kind.
_SEPARATORS = {
    " ": " \t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000",
    "-": "-\uff0d",
    ".": ".\uff0e",
    "/": "/\uff0f",
    "_": "_\uff3f\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70\u00b7\u30fb",
    "(": "(\uff08",
    ")": ")\uff09",
}


class _View(dict[int, int]):
    """``str.translate`` table for the view: filled in as characters are first seen."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        decimal = unicodedata.decimal(char, None)
        self[code] = ord(str(decimal)) if decimal is not None else code
        return self[code]


_VIEW = _View({ord(c): ord(d) for d, chars in _CHINESE_DIGITS.items() for c in chars})
_VIEW.update({ord(c): ord(kind) for kind, chars in _SEPARATORS.items() for c in chars})
# Letters lower-cased so that the phone words need no IGNORECASE (slow on Chinese text); X
# upper-cased, as the last character of an ID number.
_VIEW.update({ord(c): ord(c.lower()) for c in "ABCDEFGHIJKLMNOPQRSTUVWYZ"})
_VIEW.update({ord(c): ord("X") for c in "xＸｘ"})

_SEP = r"[ \-./_()]"
_RUN = re.compile(rf"(?=[0-9](?:{_SEP}{{0,3}}[0-9]){{6}})[0-9]+(?:{_SEP}{{1,3}}[0-9]+)*")
_SEPS = re.compile(rf"{_SEP}+")
_TRAILING_X = re.compile(rf"{_SEP}{{0,3}}X")
_DATE_SHAPE = re.compile(r"(?:19|20)[0-9][0-9][-./][0-9]")
_NOT_DIGITS = re.compile(r"[^0-9]+")
# Words that say a shorter number is a phone number, before it (电话: 62345678) or just
# after it (62345678是我家座机).
# They are looked for in the view: lower case, but X upper case.
_PHONE_WORDS = re.compile(
    "电话|手机|座机|号码|联系|联络|致电|来电|热线|微信|短信|打|拨|"
    "tel|phone|call|mobile|whatsapp|wX|vX|qq"
)
_WORD_BEFORE, _WORD_AFTER, _LONGEST_WORD = 6, 3, 8
# A number these follow is an amount, a count, an age, a date or an address, not a phone.
_UNITS = frozenset("元块毛角分万千百亿岁年月日号楼栋单层室人口个次位户间套斤克米平度%％多余")
_CURRENCY = frozenset("¥￥$")
_ARABIC = frozenset("0123456789０１２３４５６７８９")
_PAREN = {"(": ")", "（": "）"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MOBILE_PREFIXES = frozenset(f"1{d}" for d in "3456789")
_MIN_SHORT, _MIN_LONG, _MAX_LONG, _MAX_LOOKED_INTO = 7, 11, 19, 40


def _is_mobile(digits: str) -> bool:
    return len(digits) == 11 and digits[:2] in _MOBILE_PREFIXES and digits.isdigit()


def _is_id18(digits: str) -> bool:
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=False))
    return _ID_CHECK[total % 11] == digits[17]


def _is_id15(digits: str) -> bool:
    """An old 15-digit ID number: region, then a birth date YYMMDD."""
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


_KNOWN = (("mobile", _is_mobile), ("id", _is_id18), ("card", _is_card), ("landline", _is_landline))


# The shapes a stretch of so many digits can have, a mobile number aside (checked first).
_KNOWN_BY_SIZE: dict[int, tuple[tuple[str, Callable[[str], bool]], ...]] = {
    11: (("landline", _is_landline),),
    12: (("landline", _is_landline),),
    16: (("card", _is_card),),
    17: (("card", _is_card),),
    18: (("id", _is_id18), ("card", _is_card)),
    19: (("card", _is_card),),
}


def _could_be_one(size: int, first: str) -> bool:
    """Could be one number even without a known shape (a typo, an unknown card)."""
    return size == _MIN_LONG or 15 <= size <= _MAX_LONG or (first == "0" and size <= 14)


def _mask_of(digits: str) -> str:
    if len(digits) >= _MIN_LONG:
        return f"{digits[:3]}****{digits[-4:]}"
    return f"****{digits[-4:]}"


class _Run:
    """The groups of one run (digits with no separator between), and where each one is."""

    def __init__(self, view: str, start: int, end: int) -> None:
        inside = view[start:end]
        self.groups = _SEPS.split(inside)
        self.seps = _SEPS.findall(inside)
        self.start = start
        self.before = [0, *accumulate(len(g) for g in self.groups)]
        self._starts: list[int] = []

    def add_x(self, sep: str) -> None:
        self.groups.append("X")
        self.seps.append(sep)
        self.before.append(self.before[-1] + 1)
        self._starts = []

    def size(self, lo: int, hi: int) -> int:
        return self.before[hi] - self.before[lo]

    def digits(self, lo: int, hi: int) -> str:
        return "".join(self.groups[lo:hi])

    def head(self, lo: int) -> str:
        """The first 3 digits from group ``lo`` on."""
        return "".join(self.groups[lo : lo + 3])[:3]

    def tail(self, hi: int) -> str:
        """The last 4 digits before group ``hi``."""
        return "".join(self.groups[max(0, hi - 4) : hi])[-4:]

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Where groups ``lo`` to ``hi`` (excluded) are in the text."""
        if not self._starts:
            at, self._starts = self.start, []
            for group, sep in zip(self.groups, [*self.seps, ""], strict=True):
                self._starts.append(at)
                at += len(group) + len(sep)
        return self._starts[lo], self._starts[hi - 1] + len(self.groups[hi - 1])

    def sep(self, i: int) -> str:
        """The separator after group ``i``, or "" after the last."""
        return self.seps[i] if i < len(self.seps) else ""

    def date_end(self, i: int, text: str) -> int:
        """Where a date of digits and one separator that starts at group ``i`` ends, or ``i``.

        2026-11-21, 2024.3: a year, a month and perhaps a day, written in Arabic digits. The
        same separator on either side makes it one number in groups, not a date.
        """
        year, sep = self.groups[i], self.sep(i)
        if len(year) != 4 or year[:2] not in ("19", "20") or sep not in ("-", ".", "/"):
            return i
        end = i + 1
        for limit in (12, 31):
            if end >= len(self.groups) or (end > i + 1 and self.sep(end - 1) != sep):
                break
            part = self.groups[end]
            if not (1 <= len(part) <= 2 and part.isdigit() and 1 <= int(part) <= limit):
                break
            end += 1
        if end == i + 1 or (i > 0 and self.sep(i - 1) == sep) or self.sep(end - 1) == sep:
            return i
        for g in range(i, end):
            start, stop = self.span(g, g + 1)
            if not set(text[start:stop]) <= _ARABIC:
                return i
        return end


class _Redactor:
    """One message, its view, and the masks decided so far."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.view = text.translate(_VIEW)
        self.masks: list[tuple[int, int, str]] = []

    def run(self) -> str:
        for match in _RUN.finditer(self.view):
            self._run(match.start(), match.end())
        if not self.masks:
            return self.text
        out, last = [], 0
        for start, end, mask in sorted(self.masks):
            out += [self.text[last:start], mask]
            last = end
        out.append(self.text[last:])
        return "".join(out)

    def _run(self, start: int, end: int) -> None:
        inside = self.view[start:end]
        digits = _NOT_DIGITS.sub("", inside)
        x = _TRAILING_X.match(self.view, end) if len(digits) == 17 else None
        if x:
            # An ID number's final X belongs to the number only after 17 digits.
            digits += "X"
        stop = x.end() if x else end
        if len(digits) > _MAX_LOOKED_INTO:
            self._mask_span(start, stop, digits)
            return
        if not x and self.text[end : end + 1] in _UNITS:
            kept = _before_quantity(inside, digits)
            if kept:
                self._run(start, start + kept)
                return
        if _DATE_SHAPE.search(inside):
            run = self._groups(start, end, x)
            for lo, hi in self._without_dates(run):
                self._piece(run, lo, hi)
            return
        # Most runs: one number, or a short one; groups are only looked at when the run may
        # hold more than one number.
        size = len(digits)
        if size < _MIN_LONG:
            if self._said_phone(start, end) and not self._amount(start, end):
                self._mask_span(start, end, digits)
            return
        if size == stop - start or _is_id18(digits) or _is_card(digits):
            self._mask_span(start, stop, digits)
            return
        groups = _SEPS.split(inside)
        mobile_apart = (_is_mobile(groups[0]) or _is_mobile(groups[-1])) and not _is_id15(digits)
        if _could_be_one(size, digits[0]) and not mobile_apart:
            self._mask_span(start, stop, digits)
            return
        run = self._groups(start, end, x)
        self._peel(run, 0, len(run.groups))

    def _groups(self, start: int, end: int, x: re.Match[str] | None) -> _Run:
        run = _Run(self.view, start, end)
        if x:
            run.add_x(x.group()[:-1])
        return run

    def _without_dates(self, run: _Run) -> list[tuple[int, int]]:
        """The stretches of the run between its dates."""
        pieces, lo, i = [], 0, 0
        while i < len(run.groups):
            end = run.date_end(i, self.text)
            if end > i:
                pieces.append((lo, i))
                lo = i = end
            else:
                i += 1
        pieces.append((lo, len(run.groups)))
        return [(a, b) for a, b in pieces if a < b]

    def _piece(self, run: _Run, lo: int, hi: int) -> None:
        size = run.size(lo, hi)
        if size < _MIN_SHORT:
            return
        if size < _MIN_LONG:
            start, end = run.span(lo, hi)
            if self._said_phone(start, end) and not self._amount(start, end):
                self._mask(run, lo, hi)
            return
        self._peel(run, lo, hi)

    def _peel(self, run: _Run, lo: int, hi: int) -> None:
        """Mask one or several numbers written in a row, one whole number at a time."""
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
                if _is_mobile(run.groups[lo]):
                    self._mask(run, lo, lo + 1)
                    lo += 1
                    continue
                if _is_mobile(run.groups[hi - 1]):
                    self._mask(run, hi - 1, hi)
                    hi -= 1
                    continue
            if _could_be_one(size, run.head(lo)[:1]):
                self._mask(run, lo, hi)
                return
            cut = _known_number(run, lo, hi, from_end=False)
            if cut is not None:
                self._mask(run, lo, cut)
                lo = cut
                continue
            cut = _known_number(run, lo, hi, from_end=True)
            if cut is not None:
                self._mask(run, cut, hi)
                hi = cut
                continue
            self._mask(run, lo, hi)
            return

    def _said_phone(self, start: int, end: int) -> bool:
        at = max(0, start - _WORD_BEFORE - _LONGEST_WORD)
        while word := _PHONE_WORDS.search(self.view, at, start):
            if word.end() >= start - _WORD_BEFORE:
                return True
            at = word.end()
        after = _PHONE_WORDS.search(self.view, end, end + _WORD_AFTER + _LONGEST_WORD)
        return after is not None and after.start() - end <= _WORD_AFTER

    def _amount(self, start: int, end: int) -> bool:
        after = self.text[end : end + 3].lstrip()[:1]
        before = self.text[start - 1 : start] if start else ""
        return after in _UNITS or before in _CURRENCY

    def _with_paren(self, start: int, end: int) -> tuple[int, int]:
        # (0755)12345678: the opening parenthesis goes with the closing one inside the mask.
        opening = self.text[start - 1 : start] if start else ""
        if opening in _PAREN and _PAREN[opening] in self.text[start:end]:
            return start - 1, end
        return start, end

    def _mask(self, run: _Run, lo: int, hi: int) -> None:
        start, end = run.span(lo, hi)
        head = run.head(lo) if run.size(lo, hi) >= _MIN_LONG else ""
        self.masks.append((*self._with_paren(start, end), f"{head}****{run.tail(hi)}"))

    def _mask_span(self, start: int, end: int, digits: str) -> None:
        self.masks.append((*self._with_paren(start, end), _mask_of(digits)))


def _is_number(digits: str) -> bool:
    """A whole number of a known kind, recognised by its shape."""
    return any(test(digits) for _, test in _KNOWN)


def _before_quantity(inside: str, digits: str) -> int | None:
    """How much of a run to keep when a unit follows its last group, or None to keep it all.

    13812345678 2000元, 电话62345678 一个人住: the last group is a quantity when a space is
    before it and what remains is still a number to mask: a whole number by itself if it has
    11 digits or more, otherwise a phone number the text names (checked as usual) before a
    count of at most two digits. Anything else (138 1234 5678元) stays one number.
    """
    body = inside.rstrip("0123456789")
    kept = body.rstrip(" -./_()")
    last = len(inside) - len(body)
    if not kept or body[len(kept) :].strip(" "):
        return None
    rest = digits[:-last]
    if len(rest) >= _MIN_LONG:
        whole = _is_number(rest) or _could_be_one(len(rest), rest[0])
    else:
        whole = len(rest) >= _MIN_SHORT and last <= 2
    return len(kept) if whole else None


def _known_number(run: _Run, lo: int, hi: int, *, from_end: bool) -> int | None:
    """Where a known number starting at ``lo`` ends (or ending at ``hi`` starts), if any.

    A mobile number first, then an ID number, a bank card, a landline; the whole stretch is
    not one (the caller has checked). Only the first (or last) 19 digits are looked at.
    """
    found: dict[str, int] = {}
    digits = ""
    order = range(hi - 1, lo, -1) if from_end else range(lo, hi - 1)
    for i in order:
        digits = run.groups[i] + digits if from_end else digits + run.groups[i]
        n = len(digits)
        if n > _MAX_LONG:
            break
        cut = i if from_end else i + 1
        if n == _MIN_LONG and _is_mobile(digits):
            return cut
        for kind, test in _KNOWN_BY_SIZE.get(n, ()):
            if kind not in found and test(digits):
                found[kind] = cut
    return next((found[kind] for kind, _ in _KNOWN if kind in found), None)


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
    digits = _NOT_DIGITS.sub("", phone.translate(_VIEW))
    for country in ("0086", "86"):
        if digits.startswith(country) and _is_mobile(digits[len(country) :]):
            digits = digits[len(country) :]
    return _mask_of(digits) if len(digits) >= _MIN_SHORT else "****"
