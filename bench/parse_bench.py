"""Part 1: in-process latency of ``brain.nlu.parse`` on the held-out messages."""

from __future__ import annotations

import random
import time

from bench.common import Context
from bench.report import Figure, percentile

PART = "parse"
WARMUP_ROUNDS = 2
MIN_CALLS = 5000
MAX_SECONDS = 60.0
MEDIAN_TARGET_MS = 1.0
P99_TARGET_MS = 5.0


def heldout_texts() -> list[str]:
    """The held-out messages: varied, realistic and never trained on."""
    from bot.assembly import HELDOUT_DIR
    from nlu import training_data

    data = training_data.load(HELDOUT_DIR)
    return list(dict.fromkeys(e.text for e in data.examples))


def run(ctx: Context) -> None:
    brain = ctx.brain()
    parse = brain.nlu.parse
    texts = heldout_texts()
    rng = random.Random(20240601)
    for _ in range(WARMUP_ROUNDS):
        for text in texts:
            parse(text)
    timings_ns: list[int] = []
    deadline = time.monotonic() + MAX_SECONDS
    clock = time.perf_counter_ns
    rounds = 0
    while len(timings_ns) < MIN_CALLS and time.monotonic() < deadline:
        order = texts[:]
        rng.shuffle(order)
        for text in order:
            start = clock()
            parse(text)
            timings_ns.append(clock() - start)
        rounds += 1
    ms = [t / 1e6 for t in timings_ns]
    report = ctx.report
    report.info(
        PART,
        f"{len(texts)} held-out messages (avg {sum(map(len, texts)) / len(texts):.0f} chars), "
        f"{WARMUP_ROUNDS} warm-up rounds, {len(ms)} timed calls",
    )
    report.add(Figure(PART, "median latency", percentile(ms, 50), "ms", "<=", MEDIAN_TARGET_MS, 3))
    report.add(Figure(PART, "p99 latency", percentile(ms, 99), "ms", "<=", P99_TARGET_MS, 3))
    report.add(Figure(PART, "mean latency", sum(ms) / len(ms), "ms", digits=3))
    report.add(Figure(PART, "max latency", max(ms), "ms", digits=3))
    slowest = sorted(texts, key=len)[-1]
    report.info(PART, f"longest message: {len(slowest)} chars")
