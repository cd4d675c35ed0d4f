"""Text normalisation that keeps character offsets.

Residents write traditional or simplified characters, full-width digits and letters, and
paste control characters. Every function here returns a string of the same length as its
input, so entity offsets found in the normalised text are valid in the original message.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}:
        return " "
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese, keeping the length."""
    converted: str = _T2S.convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase conversion changed the length: fall back to character by character.
    return "".join(c if len(c := _T2S.convert(ch)) == 1 else ch for ch in text)


def normalize(text: str) -> str:
    """Full-width to half-width, control characters to spaces, traditional to simplified.

    ASCII letters are lower-cased. The result has exactly ``len(text)`` characters.
    """
    folded = "".join(_fold_char(ch) for ch in text)
    return to_simplified(folded).lower()


def storable(text: str) -> str:
    """Text safe to store anywhere: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
