"""``python -m bench.redaction_bench``: how long ``redact`` takes on hostile 10,000-character texts.

Every text is built to stress one part of ``nlu.privacy``: the run scanner (digits with up to
three separators, or four so that every digit is a run), the trailing X, the date and quantity
checks, the phone-word look-up and the peeling of many numbers in one run. Each case is timed
several times and the best time kept (the machine is shared); the slowest case is printed
last. A linear implementation stays in the low milliseconds on all of them.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

from nlu.privacy import redact

LENGTH = 10_000
REPEATS = 7
TARGET_MS = 5.0


def _fill(unit: str) -> str:
    return (unit * (LENGTH // len(unit) + 1))[:LENGTH]


def _random(alphabet: str, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(LENGTH))


CASES: dict[str, Callable[[], str]] = {
    "digits": lambda: _fill("1"),
    "digits, one space": lambda: _fill("1 "),
    "digits, three spaces": lambda: _fill("1   "),
    "digits, four spaces": lambda: _fill("1    "),
    "digits, mixed separators": lambda: _fill("1 -.—/_()\u3000"),
    "Chinese numerals": lambda: _fill("一二三四五六七八九零幺两拐勾洞"),
    "Chinese numerals, spaced": lambda: _fill("幺 "),
    "full-width digits": lambda: _fill("１２３４５６７８９０"),
    "letters": lambda: _fill("a"),
    "digit, letter": lambda: _fill("1a"),
    "digits and X": lambda: _fill("1X"),
    "17 digits then X": lambda: _fill("11010519491231002X "),
    "phones, one space apart": lambda: _fill("13812345678 "),
    "phones spaced 3-4-4": lambda: _fill("138 1234 5678 "),
    "spaced single digits": lambda: _fill("1 3 8 1 2 3 4 5 6 7 8 "),
    "zeros, spaced": lambda: _fill("0 "),
    "dates": lambda: _fill("2026-11-21 "),
    "dates with the same separator": lambda: _fill("2026-11-"),
    "phone words and short numbers": lambda: _fill("电话1234567 "),
    "phone words only": lambda: _fill("打"),
    "quantities": lambda: _fill("13812345678 2000元 "),
    "separators only": lambda: _fill("- "),
    "random digits, separators, numerals": lambda: _random("0123456789 -./一二三幺两X", 1),
    "random text with numbers": lambda: _random("0123456789 电话打元个人年月日号abcX-", 2),
}


def _best_ms(text: str) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        redact(text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _reference_ms() -> float:
    """A fixed pure-Python loop, to read the figures against how busy the machine is."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i & 7
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> int:
    redact("warm up 13812345678")
    timings = []
    for name, build in CASES.items():
        text = build()
        assert len(text) == LENGTH, name
        ms = _best_ms(text)
        timings.append((ms, name))
        print(f"{ms:8.2f} ms  {name}")
    ms, name = max(timings)
    verdict = "within" if ms <= TARGET_MS else "over"
    print(f"reference loop (200,000 additions): {_reference_ms():.2f} ms on this machine now")
    print(f"slowest: {name}: {ms:.2f} ms for {LENGTH} characters ({verdict} {TARGET_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
