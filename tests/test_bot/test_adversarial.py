"""No message of up to 2,000 characters stalls the assistant or makes it answer 5xx.

A small version of ``python -m bench adversarial``. A backtracking pattern blocks the event
loop, so every other resident waits too; C regex matching cannot be interrupted inside this
process, so the patterns are timed in the bench's worker process (each input in a forked
child killed at the cap) and the endpoints on a real server process.

The caps are far above what a linear pattern needs (about a millisecond on 2,000
characters) and far below what a catastrophic one takes (minutes), so the load of a shared
machine does not decide the outcome.

The inputs that once stalled or broke the server (``ONCE_SLOW_PATTERNS``,
``ONCE_BAD_REQUESTS``) stay here, each naming the defect it caught, so it cannot come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.adversarial_bench import (
    PARSE,
    STAGES,
    WEBHOOK,
    PatternRun,
    kill_server,
    probe,
    run_pattern_worker,
)
from bench.server import Server
from bot.assembly import Brain

PATTERN_CAP = 2.0  # seconds for one input through search, findall and sub
REQUEST_CAP = 5.0  # seconds for one request, the self-report's earlier answers aside
SAMPLE = 300  # generated inputs over all the patterns that read resident text

NUMBER_PATTERN_DEFECT = (
    "nlu.numbers.NUMBER_PATTERN: [numerals]*[numerals](?:[几多]?[十百千万]+)? can split a run "
    "of numerals in O(n²) ways, and the pattern after it fails at every split"
)
# where (as the bench names it) -> (input that stalls it, the defect)
ONCE_SLOW_PATTERNS = {
    "dialogues.reading._SIZE_TOTAL": ("'万'×2000", NUMBER_PATTERN_DEFECT),
    "dialogues.reading._AGE_ANYWHERE": ("'万'×2000", NUMBER_PATTERN_DEFECT),
    (
        "dialogues/understanding.yml: words.start_whole[0] via "
        "assistant.engine.understanding.policy.words['start_whole'][0]"
    ): (
        "'想要'×1000",
        "understanding.yml start_whole: (?:要|想|想要|...)* reads 想要 as 想+要 or as 想要, "
        "2^n ways to fail",
    ),
}


def _once_slow() -> list[object]:
    return [
        pytest.param(
            where,
            text,
            id=where,
        )
        for where, (text, defect) in ONCE_SLOW_PATTERNS.items()
    ]


@pytest.fixture(scope="module")
def pattern_run(
    brain: Brain, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> PatternRun:
    """The sample, and each known slow pattern on its input (``brain``: the cache is warm)."""
    return run_pattern_worker(
        model_cache,
        tmp_path_factory.mktemp("adversarial-patterns"),
        cap=PATTERN_CAP,
        sample=SAMPLE,
        resident_only=True,
        also=[f"{where} :: {text}" for where, (text, _) in ONCE_SLOW_PATTERNS.items()],
        skip=[f"{where} :: " for where in ONCE_SLOW_PATTERNS],
        timeout=900,
    )


def test_patterns_are_collected_from_code_and_lexicons(pattern_run: PatternRun) -> None:
    wheres = {r.where for r in pattern_run.results}
    assert pattern_run.summary["resident_patterns"] >= 100, pattern_run.summary
    assert any(w.startswith("dialogues.reading.") for w in wheres), sorted(wheres)[:20]
    assert any(w.startswith("dialogues/safety.yml: ") for w in wheres), sorted(wheres)[:20]


def test_generated_inputs_never_stall_a_pattern(pattern_run: PatternRun) -> None:
    sampled = [r for r in pattern_run.results if r.where not in ONCE_SLOW_PATTERNS]
    assert len(sampled) >= SAMPLE * 0.9
    errors = [f"{r.key}: {r.error}" for r in sampled if r.error is not None]
    assert not errors
    stalled = [r.key for r in sampled if r.ms is None]
    assert not stalled, f"past {PATTERN_CAP:.0f} s: {stalled}"


@pytest.mark.parametrize(("where", "text"), _once_slow())
def test_once_slow_pattern_no_longer_stalls(
    pattern_run: PatternRun, where: str, text: str
) -> None:
    timed = [r for r in pattern_run.results if r.where == where and r.input == text]
    # A pattern that the fix removed or renamed cannot stall any more either.
    assert all(r.ms is not None for r in timed), f"{where} on {text}: past {PATTERN_CAP:.0f} s"


# -- endpoints -------------------------------------------------------------------------------


class Servers:
    """A real server, replaced by a fresh one after a request stalled it."""

    def __init__(self, home: Path, cache_dir: Path):
        self.home = home
        self.cache_dir = cache_dir
        self.server: Server | None = None

    def url(self) -> str:
        if self.server is None:
            self.server = Server(
                self.home, f"sqlite+aiosqlite:///{self.home / 'zhaoren.db'}", self.cache_dir
            )
            self.server.start()
        return self.server.base_url

    def discard(self) -> None:
        if self.server is not None:
            kill_server(self.server)
            self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture(scope="module")
def servers(
    brain: Brain, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    holder = Servers(tmp_path_factory.mktemp("adversarial-server"), model_cache)
    try:
        yield holder
    finally:
        holder.stop()


REQUESTS = [
    (PARSE, "first message", "'想要'×1000", "想要" * 1000),
    (PARSE, "first message", "'1 '×1000", "1 " * 1000),
    (WEBHOOK, "first message", "punctuation×2000", ",。!?、" * 400),
    (WEBHOOK, "place", "'一共'×1000", "一共" * 1000),
    (WEBHOOK, "household", "'三个人'×666", "三个人" * 666),
    (WEBHOOK, "needs", "spaces×2000", " " * 2000),
]
OVERFLOW_DEFECT = (
    "nlu.numbers.parse_number: a long run of digits or of 一 is read as a float that is "
    "infinite, and round(inf) raises OverflowError: answered 500"
)


def _once_bad(endpoint: str, stage: str, description: str, text: str, defect: str) -> object:
    return pytest.param(
        endpoint,
        stage,
        description,
        text,
        id=f"{endpoint.rsplit('/', 1)[-1]}-{stage}-{description}",
    )


# The stall goes last: it costs the server, and the tests after it would wait for a new one.
ONCE_BAD_REQUESTS = [
    _once_bad(PARSE, "first message", "'一'×310", "一" * 310, OVERFLOW_DEFECT),
    _once_bad(PARSE, "first message", "digits '1'×2000", "1" * 2000, OVERFLOW_DEFECT),
    _once_bad(WEBHOOK, "income", "digits '1'×2000", "1" * 2000, OVERFLOW_DEFECT),
    _once_bad(WEBHOOK, "household", "'万'×2000", "万" * 2000, NUMBER_PATTERN_DEFECT),
]


@pytest.mark.parametrize(
    ("endpoint", "stage", "description", "text"),
    [pytest.param(*r, id=f"{r[0].rsplit('/', 1)[-1]}-{r[1]}-{r[2]}") for r in REQUESTS]
    + ONCE_BAD_REQUESTS,
)
async def test_request_is_answered_in_time(
    servers: Servers, endpoint: str, stage: str, description: str, text: str
) -> None:
    number = STAGES.index(stage)
    result = await probe(
        servers.url(),
        endpoint,
        number,
        description,
        text,
        f"adv-{stage}-{id(text)}",
        REQUEST_CAP,
    )
    if result.ms is None and result.error is None:
        servers.discard()  # its event loop is still blocked: the next test gets a fresh one
    assert not result.note, result.note  # the self-report reached the stage meant
    assert result.error is None, result.error
    assert result.ms is not None, f"no answer within {REQUEST_CAP:.0f} s"
    assert result.status is not None and result.status < 500
