"""jieba word segmentation with the project's domain dictionary.

A private ``jieba.Tokenizer`` is used so that domain words added here never leak into other
users of jieba in the same process. Its dictionary is loaded once, when the model is built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

USERDICT = Path(__file__).parent / "data" / "userdict.txt"


@dataclass(frozen=True, slots=True)
class Token:
    """A word and its character offsets."""

    text: str
    start: int
    end: int


class Tokenizer:
    """Segments normalised Chinese text into words."""

    def __init__(self, userdict: Path | None = USERDICT, extra_words: Iterable[str] = ()):
        """Build the jieba tokenizer and load the domain dictionary once."""
        import jieba  # lazy: importing jieba costs time and is only needed here

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        if userdict is not None and userdict.exists():
            # Passing an open file: given a path, jieba never closes the file it opens.
            with userdict.open("rb") as handle:
                self._jieba.load_userdict(handle)
        for word in extra_words:
            if len(word) > 1:
                self._jieba.add_word(word, freq=2000)

    def words(self, text: str) -> list[str]:
        """The words of ``text``, without whitespace tokens."""
        return [w for w in self._jieba.lcut(text, HMM=True) if w.strip()]

    def tokenize(self, text: str) -> list[Token]:
        """Words with their offsets, as Rasa's JiebaTokenizer gives them."""
        return [
            Token(word, start, end)
            for word, start, end in self._jieba.tokenize(text)
            if word.strip()
        ]
