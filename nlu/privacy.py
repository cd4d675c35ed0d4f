"""Masking of phone and ID numbers (logs, lead lists and details, transcripts).

China has one time zone and no daylight saving, so ``CHINA`` (UTC+8) is exact; it lives
here with the other conventions every package shares about what residents see.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")

# Any run of 11 or more digits, even written with spaces, dashes or dots between groups
# (phones, 15- and 18-character ID numbers, bank cards): keep the first 3 and last 4.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d(?:[ .-]?\d){9,}[\dXx](?![0-9A-Za-z])")
# Shorter numbers are masked where the text says they are a phone number.
_CALLED_NUMBER = re.compile(r"(?<=电话|手机|座机|号码|联系)([^\d]{0,4})(\d[\d -]{5,9}\d)")


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"[^\dXx]", "", match.group(0))
    return f"{digits[:3]}****{digits[-4:]}"


def redact(text: str) -> str:
    """Mask ID, phone and card numbers: 138****5678, 310****4321."""
    text = _LONG_NUMBER.sub(_mask, text)
    return _CALLED_NUMBER.sub(lambda m: m.group(1) + "****" + m.group(2)[-4:], text)


def mask_phone(phone: str) -> str:
    """A phone number as lists and summaries show it: 138****5678."""
    digits = re.sub(r"\D", "", phone)
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"
