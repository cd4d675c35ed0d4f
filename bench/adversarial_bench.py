"""Part 6: adversarial inputs — every pattern and every endpoint, at their worst.

A resident's message goes through dozens of regular expressions (the readers' own, those
compiled from the YAML lexicons, jieba's). One with nested or overlapping quantifiers can
backtrack for minutes on a 2,000-character message and block the event loop for everyone.
This part finds them:

1. **Patterns.** A worker process loads the assistant as the server does, serves a few
   messages (so that lazily compiled and inline ``re.search(...)`` patterns exist too), and
   collects every compiled ``re.Pattern`` the process holds, naming where each one lives.
   For each pattern it builds worst-case inputs from the pattern's own structure (its
   literals and character classes repeated, alternated, its prefix repeated and then
   failed) and from fixed families (numerals, digits, spaces, punctuation). Each input is
   timed with ``search``, ``findall`` and ``sub``, in a forked child that is killed when one
   input exceeds the cap: C regex matching cannot be interrupted by a signal.
2. **Endpoints.** The real server gets 2,000-character messages on ``/model/parse`` and on
   the REST webhook at every stage of a self-report; a request that does not answer within
   the timeout is reported as a stall and the server is restarted.

Timing is reported against the target (≤ 50 ms for any request of ≤ 2,000 characters) but
never fails the run; a 5xx answer or a pattern that raises does (as every part's errors do).

The pattern worker is this module run as ``python -m bench.adversarial_bench patterns ...``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import gc
import importlib
import itertools
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import PROJECT_ROOT, Context
from bench.report import Figure, Report

PART = "adversarial"
MAX_CHARS = 2000  # the longest message the target speaks of (and the engine reads)
TARGET_MS = 50.0
PATTERN_CAP_SECONDS = 3.0  # one input, all three operations; linear patterns take ~1 ms
REQUEST_TIMEOUT_SECONDS = 10.0
PATTERN_RUN_TIMEOUT = 1800.0  # the whole pattern phase, worker start-up included
TOP = 15
STALLS_PER_PATTERN = 2  # inputs past the cap before a pattern's remaining inputs are skipped
STALLS_PER_FAMILY = 2  # stages a message stalled before its remaining stages are skipped

PROJECT_PACKAGES = ("bot", "dialogues", "nlu", "knowledge")
# Libraries the NLU runs on the resident's text itself (jieba's tokenizer, cn2an's numbers).
TEXT_LIBRARIES = ("jieba", "cn2an", "proces")
YAML_DIRS = ("dialogues", "knowledge", "nlu/data")

CHINESE_NUMERALS = "一二三四五六七八九十百千万亿两几多"
PUNCTUATION = ",。.!!??~、;;::…()()\"'“”"
# Inputs every pattern gets, whatever its structure: what residents (or a probe) can type.
FIXED_FAMILIES: tuple[tuple[str, str], ...] = (
    ("'万'×2000", "万" * 2000),
    ("'一'×2000", "一" * 2000),
    ("'一'×310", "一" * 310),
    ("'十'×2000", "十" * 2000),
    ("numerals cycle×2000", (CHINESE_NUMERALS * 200)[:2000]),
    ("'一万'×1000", "一万" * 1000),
    ("'两千多'×666", "两千多" * 666),
    ("digits '1'×2000", "1" * 2000),
    ("digits cycle×2000", ("1234567890" * 200)[:2000]),
    ("'1 '×1000", "1 " * 1000),
    ("'1.'×1000", "1." * 1000),
    ("'1-'×1000", "1-" * 1000),
    ("'想要'×1000", "想要" * 1000),
    ("spaces×2000", " " * 2000),
    ("' \\t\\n'×666", " \t\n" * 666),
    ("punctuation cycle×2000", (PUNCTUATION * 100)[:2000]),
    ("'a'×2000", "a" * 2000),
    ("'我'×2000", "我" * 2000),
)
# Characters tried, in order, as the one that makes a repeated prefix fail at the end.
FAIL_CANDIDATES = ("!", "#", "☃", "\x00", "~", "q", "\n")
CLASS_CANDIDATES = ("a", "字", "1", " ", "。", "!", "\n", "Z", "_", "万")


# -- inputs from a pattern's structure ------------------------------------------------------


# ``re``'s own parser and compiler (the documented ``sre_parse`` names are deprecated).
_sre_parse: Any = importlib.import_module("re._parser")
_sre_compile: Any = importlib.import_module("re._compiler")
_sre: Any = importlib.import_module("re._constants")


def _parse(pattern: re.Pattern[Any]) -> Any:
    source = pattern.pattern
    if isinstance(source, bytes):
        source = source.decode("latin-1")
    # Drop the flags that only bytes patterns accept; the parse is the same shape.
    flags = pattern.flags & ~(re.ASCII | re.LOCALE | re.UNICODE)
    return _sre_parse.parse(source, flags)


@dataclass(slots=True)
class Shape:
    """What a pattern is made of: literal runs, class representatives, example strings."""

    literals: list[str] = field(default_factory=list)
    class_chars: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # prefixes of each top-level branch
    classes: list[re.Pattern[str]] = field(default_factory=list)


def _class_pattern(state: Any, item: tuple[Any, Any]) -> re.Pattern[str] | None:
    """One class (or ``.``) of the pattern compiled on its own, to test characters against."""
    try:
        compiled: re.Pattern[str] = _sre_compile.compile(_sre_parse.SubPattern(state, [item]), 0)
    except Exception:  # a class this trick cannot rebuild: no representatives from it
        return None
    return compiled


def shape_of(pattern: re.Pattern[Any]) -> Shape:
    """Walk the parsed pattern once and collect its building blocks."""
    c = _sre
    shape = Shape()
    parsed = _parse(pattern)
    state = parsed.state

    def add(values: list[str], value: str) -> None:
        if value and value not in values:
            values.append(value)

    def example(items: Iterable[tuple[Any, Any]]) -> str:
        out = []
        for op, av in items:
            if op is c.LITERAL:
                out.append(chr(av))
            elif op is c.NOT_LITERAL:
                out.append("a" if av != ord("a") else "b")
            elif op in (c.IN, c.ANY):
                members = _representatives(state, (op, av))
                out.append(members[0] if members else "a")
            elif op is c.BRANCH:
                out.append(example(av[1][0]))
            elif op is c.SUBPATTERN:
                out.append(example(av[-1]))
            elif op is c.ATOMIC_GROUP:
                out.append(example(av))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, high, body = av
                count = max(low, 1) if high != 0 else 0
                out.append(example(body) * min(count, 50))
            elif op is c.GROUPREF_EXISTS:
                out.append(example(av[1]))
        return "".join(out)

    def walk(items: Any) -> None:
        run: list[str] = []
        for op, av in items:
            if op is c.LITERAL:
                run.append(chr(av))
                continue
            if run:
                add(shape.literals, "".join(run))
                run = []
            if op in (c.IN, c.ANY):
                compiled = _class_pattern(state, (op, av))
                if compiled is not None:
                    shape.classes.append(compiled)
                for ch in _representatives(state, (op, av))[:2]:
                    add(shape.class_chars, ch)
            elif op is c.BRANCH:
                for branch in av[1]:
                    walk(branch)
            elif op is c.SUBPATTERN:
                walk(av[-1])
            elif op is c.ATOMIC_GROUP:
                walk(av)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                walk(av[2])
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1])
            elif op is c.GROUPREF_EXISTS:
                walk(av[1])
                if av[2] is not None:
                    walk(av[2])
        if run:
            add(shape.literals, "".join(run))

    walk(parsed)
    top = list(parsed)
    branches = (
        [list(b) for b in top[0][1][1]] if len(top) == 1 and top[0][0] is c.BRANCH else [top]
    )
    for branch in branches[:6]:
        for end in range(1, min(len(branch), 6) + 1):
            add(shape.examples, example(branch[:end]))
    return shape


def _representatives(state: Any, item: tuple[Any, Any]) -> list[str]:
    """A few characters the class matches: its own first members, then common ones."""
    c = _sre
    op, av = item
    candidates: list[str] = []
    if op is c.IN:
        for member_op, member in av:
            if member_op is c.LITERAL:
                candidates.append(chr(member))
            elif member_op is c.RANGE:
                candidates.extend((chr(member[0]), chr(member[1])))
    candidates.extend(CLASS_CANDIDATES)
    compiled = _class_pattern(state, item)
    if compiled is None:
        return []
    found: list[str] = []
    for ch in candidates:
        if ch not in found and compiled.fullmatch(ch):
            found.append(ch)
    return found


def _fail_char(pattern: re.Pattern[Any], shape: Shape) -> str:
    """A character that no part of the pattern accepts, to end a repeated prefix with."""
    used = set("".join(shape.literals))
    for ch in FAIL_CANDIDATES:
        if ch in used or any(cls.fullmatch(ch) for cls in shape.classes):
            continue
        return ch
    return "!"


def _repeat(unit: str, fill: int = MAX_CHARS) -> tuple[str, int]:
    count = max(1, fill // max(1, len(unit)))
    return unit * count, count


def _short(text: str, width: int = 12) -> str:
    shown = text if len(text) <= width else text[: width - 1] + "…"
    return repr(shown)


def inputs_for(pattern: re.Pattern[Any], structural: bool = True) -> list[tuple[str, str]]:
    """(description, text) worst cases for one pattern, each at most 2,000 characters.

    ``structural``: also the inputs built from the pattern's own literals and classes
    (else the fixed families only).
    """
    if not structural:
        return list(FIXED_FAMILIES)
    try:
        shape = shape_of(pattern)
    except Exception:  # a pattern sre_parse cannot re-read: the fixed families still apply
        shape = Shape()
    fail = _fail_char(pattern, shape)
    out: dict[str, str] = {}

    def put(description: str, text: str) -> None:
        text = text[:MAX_CHARS]
        if text and text not in out.values():
            out[description] = text

    # The fixed families first: when a pattern stalls, they name the inputs plainly.
    for description, text in FIXED_FAMILIES:
        put(description, text)
    literals = sorted(shape.literals, key=len, reverse=True)[:12]
    for literal in literals:
        text, count = _repeat(literal)
        put(f"{_short(literal)}×{count}", text)
        text, count = _repeat(literal, MAX_CHARS - 1)
        put(f"{_short(literal)}×{count}+{fail!r}", text + fail)
    for ch in shape.class_chars[:10]:
        put(f"class char {ch!r}×{MAX_CHARS}", ch * MAX_CHARS)
    atoms = list(dict.fromkeys(literals[:5] + shape.class_chars[:4]))
    for a, b in itertools.combinations(atoms, 2):
        text, count = _repeat(a + b)
        put(f"({_short(a, 6)}+{_short(b, 6)})×{count}", text)
    for prefix in shape.examples[:24]:
        text, count = _repeat(prefix, MAX_CHARS - 1)
        put(f"prefix {_short(prefix)}×{count}+{fail!r}", text + fail)
    return list(out.items())


# -- where the patterns live ---------------------------------------------------------------


@dataclass(slots=True)
class Found:
    """One compiled pattern, where it was found, and whether it sees resident text."""

    pattern: re.Pattern[Any]
    where: str
    resident: bool


class PatternFinder:
    """Names every ``re.Pattern`` the process holds after the given roots."""

    def __init__(self) -> None:
        self.where: dict[int, tuple[str, bool]] = {}
        self._seen: set[int] = set()
        self._yaml = _yaml_strings()

    def _record(self, pattern: re.Pattern[Any], where: str, resident: bool) -> None:
        self.where.setdefault(id(pattern), (where, resident))

    def walk(self, obj: Any, path: str, resident: bool, depth: int, owner: str = "") -> None:
        """Follow containers, functions and (project) objects; record patterns by path."""
        if isinstance(obj, re.Pattern):
            self._record(obj, path, resident)
            return
        if depth <= 0 or id(obj) in self._seen:
            return
        if isinstance(obj, str | bytes | int | float | bool | type(None)):
            return
        self._seen.add(id(obj))
        if isinstance(obj, dict):
            for key, value in list(obj.items())[:5000]:
                self.walk(value, f"{path}[{key!r}]", resident, depth - 1, owner)
        elif isinstance(obj, list | tuple | set | frozenset):
            for index, value in enumerate(list(obj)[:5000]):
                self.walk(value, f"{path}[{index}]", resident, depth - 1, owner)
        elif isinstance(obj, type):
            if obj.__module__ == owner:
                for name, value in list(vars(obj).items()):
                    self.walk(value, f"{path}.{name}", resident, depth - 1, owner)
        elif hasattr(obj, "__self__") and hasattr(obj, "__func__"):  # a bound method
            self.walk(obj.__self__, f"{path}.__self__", resident, depth - 1, owner)
        elif callable(obj) and hasattr(obj, "__code__"):
            if getattr(obj, "__module__", None) != owner:
                return
            for value in obj.__defaults__ or ():
                self.walk(value, f"{path}(default)", resident, depth - 1, owner)
            for cell in obj.__closure__ or ():
                with contextlib.suppress(ValueError):  # an empty cell has no contents
                    self.walk(cell.cell_contents, f"{path}(closure)", resident, depth - 1, owner)
        elif type(obj).__module__.split(".")[0] in PROJECT_PACKAGES + TEXT_LIBRARIES:
            names = list(getattr(obj, "__dict__", {}))
            for klass in type(obj).__mro__:
                names.extend(getattr(klass, "__slots__", ()))
            for name in dict.fromkeys(names):
                try:
                    value = getattr(obj, name)
                except AttributeError:
                    continue
                self.walk(value, f"{path}.{name}", resident, depth - 1, owner)

    def walk_modules(self, project: bool) -> None:
        for name, module in sorted(sys.modules.items()):
            top = name.split(".")[0]
            if (top in PROJECT_PACKAGES) != project or module is None:
                continue
            if not project and name.startswith(("bench", "tests", "__main__")):
                continue
            resident = project or top in TEXT_LIBRARIES
            for attr, value in list(vars(module).items()):
                depth = 4 if project else 6 if resident else 3
                self.walk(value, f"{name}.{attr}", resident, depth, name)

    def walk_inline_calls(self) -> None:
        """``re.search(r"...", text)`` in project code: cached by ``re``, named by line."""
        by_source: dict[str, str] = {}
        for package in PROJECT_PACKAGES:
            for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
                module_name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
                module = sys.modules.get(module_name)
                try:
                    tree = ast.parse(path.read_text(encoding="utf-8"))
                except (OSError, SyntaxError):
                    continue
                for node in ast.walk(tree):
                    source = _inline_pattern(node, module)
                    if source is not None and isinstance(node, ast.Call):
                        relative = path.relative_to(PROJECT_ROOT)
                        by_source.setdefault(source, f"{relative}:{node.lineno} (inline re call)")
        for obj in gc.get_objects():
            if isinstance(obj, re.Pattern) and isinstance(obj.pattern, str):
                where = by_source.get(obj.pattern)
                if where is not None:
                    self._record(obj, where, True)

    def yaml_origin(self, pattern: re.Pattern[Any], path: str) -> str | None:
        """The YAML file and key a pattern was compiled from, when its text is there."""
        source = pattern.pattern
        if not isinstance(source, str):
            return None
        exact = self._yaml.get(source)
        if exact is not None:
            # The same text may sit under several keys (a button title and a word list):
            # prefer the key whose name ends the object's own path.
            for where in exact:
                tail = re.split(r"[.:] ?", where)[-1]
                if path.endswith(tail):
                    return where
            return exact[0]
        groups: dict[str, int] = {}
        for text, places in self._yaml.items():
            where = places[0]
            if len(text) >= 2 and (f"(?:{text})" in source or re.escape(text) in source):
                parent = re.sub(r"\[\d+\]$", "", where)
                groups[parent] = groups.get(parent, 0) + 1
        if not groups:
            return None
        parent, hits = max(groups.items(), key=lambda kv: kv[1])
        return f"{parent} (joined, {hits} entries)" if hits >= 2 else None

    def found(self) -> list[Found]:
        """Every pattern in the process, named; one entry per distinct (source, flags)."""
        in_cache = {id(p) for p in re._cache.values()}  # type: ignore[attr-defined]
        out: dict[tuple[Any, int], Found] = {}
        for obj in gc.get_objects():
            if not isinstance(obj, re.Pattern):
                continue
            where, resident = self.where.get(id(obj), ("", False))
            if not where:
                where = "re cache (inline call)" if id(obj) in in_cache else "gc (owner unknown)"
            elif resident and where.startswith("assistant"):
                origin = self.yaml_origin(obj, where)
                if origin is not None:
                    where = f"{origin} via {where}"
            key = (obj.pattern, obj.flags)
            previous = out.get(key)
            better = previous is None or (resident and not previous.resident)
            if better or (previous is not None and previous.where.startswith(("re cache", "gc"))):
                out[key] = Found(
                    obj, where, resident or (previous is not None and previous.resident)
                )
        return sorted(
            out.values(), key=lambda f: (not f.resident, f.where, str(f.pattern.pattern))
        )


def _inline_pattern(node: ast.AST, module: Any) -> str | None:
    functions = {"search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
    functions.add("compile")
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute)):
        return None
    func = node.func
    if not (isinstance(func.value, ast.Name) and func.value.id == "re"):
        return None
    if func.attr not in functions:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    if isinstance(first, ast.JoinedStr) and module is not None:
        try:
            value = eval(compile(ast.Expression(first), "<pattern>", "eval"), vars(module))
        except Exception:  # names local to the function: not resolvable here
            return None
        return value if isinstance(value, str) else None
    return None


def _yaml_strings() -> dict[str, list[str]]:
    """Every string in the project's YAML files, mapped to where it is (``file: key.path``)."""
    import yaml

    out: dict[str, list[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            out.setdefault(value, []).append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if not path.endswith(": ") else f"{path}{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    for folder in YAML_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.yml")):
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            walk(document, f"{path.relative_to(PROJECT_ROOT)}: ")
    return out


# -- the pattern worker (a separate process) -----------------------------------------------

# The terse self-report of ``tests/test_dialogues/test_intake.py``; stage k sends the first
# k answers, then the adversarial message as the answer to the k-th question.
REPORT_ANSWERS = (
    "要登记",
    "浦东新区花木街道",
    "3个人",
    "没收入",
    "没有",
    "想找工作",
    "不急",
    "13800001111",
    "/affirm",
    "/affirm",
)
# The worker sends the whole report (with the charity answer) so that every pattern the
# server compiles on first use exists before patterns are collected.
WARM_UP = (*REPORT_ANSWERS, "/deny")
WARM_UP_VERBOSE = (
    "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
    "低保怎么申请",
    "我不想活了",
    "电话是021-62345678 身份证310101199001011234",
)


async def _warm_up(cache_dir: Path, home: Path) -> Any:
    """Open the assistant and the app as the server does and serve a few messages."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.assembly import open_assistant
    from bot.config import Settings
    from bot.web.app import create_app

    settings = Settings.from_env(
        {
            "ZHAOREN_HOME": str(home),
            "ZHAOREN_CACHE_DIR": str(cache_dir),
            "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'worker.db'}",
            "ZHAOREN_RATE_LIMITS": "off",  # one client plays every attacker: time patterns
        }
    )
    assistant = await open_assistant(settings)
    app = await create_app(settings, assistant=assistant)
    async with TestClient(TestServer(app)) as client:
        for sender, messages in (("warm-terse", WARM_UP), ("warm-verbose", WARM_UP_VERBOSE)):
            for message in messages:
                await client.post(
                    "/webhooks/rest/webhook", json={"sender": sender, "message": message}
                )
        for message in WARM_UP_VERBOSE:
            await client.post("/model/parse", json={"text": message})
    await assistant.close()
    return assistant


@dataclass(slots=True)
class CaseResult:
    """One pattern on one input: the slowest operation, or a stall, or an error."""

    index: int
    where: str
    resident: bool
    source: str
    input: str
    length: int
    ms: float | None  # None: stalled past the cap
    op: str = ""
    error: str | None = None
    text: str = ""  # the input itself, kept for the slowest cases only

    @property
    def key(self) -> str:
        return f"{self.where} :: {self.input}"


def collect(cache_dir: Path, home: Path) -> list[Found]:
    """Load and warm the assistant, then every pattern in this process, named."""
    assistant = asyncio.run(_warm_up(cache_dir, home))
    gc.collect()
    finder = PatternFinder()
    finder.walk_modules(project=True)
    finder.walk(assistant, "assistant", True, 12)
    finder.walk_inline_calls()
    finder.walk_modules(project=False)
    return finder.found()


def cases_of(found: list[Found]) -> list[tuple[int, str, str]]:
    """(pattern index, description, text) for every pattern and its inputs."""
    out = []
    for index, item in enumerate(found):
        # Library patterns that never see resident text get the fixed families only.
        for description, text in inputs_for(item.pattern, structural=item.resident):
            out.append((index, description, text))
    return out


def _as_subject(pattern: re.Pattern[Any], text: str) -> Any:
    if not isinstance(pattern.pattern, bytes):
        return text
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")[:MAX_CHARS]


def time_case(pattern: re.Pattern[Any], text: str) -> tuple[float, str]:
    """Slowest of ``search``, ``findall`` and ``sub`` on the input, in ms (retimed if slow)."""
    subject = _as_subject(pattern, text)
    empty: Any = b"" if isinstance(subject, bytes) else ""
    ops: tuple[tuple[str, Callable[[], object]], ...] = (
        ("search", lambda: pattern.search(subject)),
        ("findall", lambda: pattern.findall(subject)),
        ("sub", lambda: pattern.sub(empty, subject)),
    )
    best: dict[str, float] = {}
    for attempt in range(3):
        for name, op in ops:
            started = time.perf_counter()
            op()
            ms = (time.perf_counter() - started) * 1000
            best[name] = min(ms, best.get(name, ms))
            if ms > 250.0:
                break  # slow enough to report; the other operations would only add to it
        slowest = max(best.values())
        # Retime only what looks slow: a busy machine adds noise, not backtracking.
        if slowest < 5.0 or slowest > 200.0 or attempt == 2:
            break
    op_name = max(best, key=lambda k: best[k])
    return best[op_name], op_name


def _child(
    found: list[Found], cases: list[tuple[int, str, str]], order: list[int], fd: int
) -> None:
    with os.fdopen(fd, "w", encoding="utf-8", buffering=1) as out:
        for position, case_index in enumerate(order):
            pattern_index, _description, text = cases[case_index]
            try:
                ms, op = time_case(found[pattern_index].pattern, text)
                line = {"position": position, "ms": ms, "op": op}
            except Exception as exc:
                line = {"position": position, "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(line) + "\n")


def run_cases(
    found: list[Found],
    cases: list[tuple[int, str, str]],
    order: list[int],
    cap: float,
    progress: Callable[[str], None] | None = None,
) -> list[CaseResult]:
    """Time ``order``'s cases in forked children; a case past ``cap`` is killed and skipped."""
    results: list[CaseResult] = []

    def result(position: int, ms: float | None, op: str = "", error: str | None = None) -> None:
        pattern_index, description, text = cases[order[position]]
        item = found[pattern_index]
        source = item.pattern.pattern
        if isinstance(source, bytes):
            source = source.decode("latin-1")
        results.append(
            CaseResult(
                order[position],
                item.where,
                item.resident,
                source,
                description,
                len(text),
                ms,
                op,
                error,
            )
        )

    stalls: dict[int, int] = {}
    start = 0
    last_note = time.monotonic()
    while start < len(order):
        # A pattern that stalled twice is known to be catastrophic: its other inputs
        # would only cost the cap each.
        while start < len(order) and stalls.get(cases[order[start]][0], 0) >= STALLS_PER_PATTERN:
            start += 1
        if start == len(order):
            break
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: time cases from ``start`` on, one JSON line each
            os.close(read_fd)
            try:
                _child(found, cases, order[start:], write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        done = start
        buffer = b""
        stalled = False
        with os.fdopen(read_fd, "rb", buffering=0) as reader:
            while True:
                ready, _, _ = select.select([reader], [], [], cap)
                if not ready:
                    stalled = True
                    break
                chunk = reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    line = json.loads(raw)
                    result(
                        start + line["position"],
                        line.get("ms"),
                        line.get("op", ""),
                        line.get("error"),
                    )
                    done = start + line["position"] + 1
                if progress is not None and time.monotonic() - last_note > 30:
                    progress(f"{done}/{len(order)} inputs timed")
                    last_note = time.monotonic()
        if stalled:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if stalled:
            result(done, None, "", None)
            pattern_index = cases[order[done]][0]
            stalls[pattern_index] = stalls.get(pattern_index, 0) + 1
            if progress is not None:
                progress(f"stalled past {cap:.0f}s: {results[-1].key}")
        elif done < len(order):
            result(done, None, "", f"worker child died (status {status})")
        start = done + 1 if done < len(order) else done
    return results


def _select(
    found: list[Found],
    cases: list[tuple[int, str, str]],
    sample: int | None,
    also: list[str],
    skip: list[str],
    resident_only: bool,
) -> list[int]:
    """The cases to time: all (or a seeded sample), minus ``skip``, plus ``also``."""

    def key(index: int) -> str:
        pattern_index, description, _ = cases[index]
        return f"{found[pattern_index].where} :: {description}"

    order = [
        i
        for i in range(len(cases))
        if (found[cases[i][0]].resident or not resident_only)
        and not any(key(i).startswith(s) for s in skip)
    ]
    if sample is not None and sample < len(order):
        order = random.Random(20240601).sample(order, sample)
    wanted = set(also)
    order += [i for i in range(len(cases)) if key(i) in wanted]
    return sorted(set(order))


def worker_main(argv: list[str]) -> int:
    """``python -m bench.adversarial_bench patterns``: time patterns, write JSON results."""
    parser = argparse.ArgumentParser(prog="python -m bench.adversarial_bench patterns")
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cap", type=float, default=PATTERN_CAP_SECONDS)
    parser.add_argument("--sample", type=int, help="time this many inputs, drawn at random")
    parser.add_argument("--resident-only", action="store_true")
    parser.add_argument(
        "--also", action="append", default=[], help="'where :: input': time this one too"
    )
    parser.add_argument(
        "--skip", action="append", default=[], help="'where' prefix: leave these out"
    )
    parser.add_argument("--keep-text", type=int, default=40, help="inputs kept for the slowest")
    args = parser.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    found = collect(args.cache_dir, args.home)
    cases = cases_of(found)
    order = _select(found, cases, args.sample, args.also, args.skip, args.resident_only)
    note = f"{len(found)} patterns ({sum(f.resident for f in found)} on resident text), "
    note += f"{len(order)} of {len(cases)} inputs, loaded in {time.perf_counter() - started:.1f}s"
    print(note, file=sys.stderr, flush=True)
    gc.freeze()  # the children only read: keep their pages shared

    def progress(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    results = run_cases(found, cases, order, args.cap, progress)
    slowest = sorted(results, key=_slowness, reverse=True)[: args.keep_text]
    for item in slowest:
        item.text = cases[item.index][2]
    summary = {
        "patterns": len(found),
        "resident_patterns": sum(f.resident for f in found),
        "inputs": len(order),
        "all_inputs": len(cases),
        "seconds": time.perf_counter() - started,
        "where_counts": _where_counts(found),
        "results": [asdict(r) for r in results],
    }
    args.out.write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    return 0


def _where_counts(found: list[Found]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in found:
        kind = item.where.split(" ", 1)[0].split(".")[0].split(":")[0].split("/")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _slowness(result: CaseResult) -> float:
    if result.ms is None:
        return float("inf")
    return result.ms


@dataclass(slots=True)
class PatternRun:
    """What the pattern worker reported."""

    results: list[CaseResult]
    summary: dict[str, Any]
    log: str


def run_pattern_worker(
    cache_dir: Path,
    home: Path,
    cap: float = PATTERN_CAP_SECONDS,
    sample: int | None = None,
    also: Iterable[str] = (),
    skip: Iterable[str] = (),
    resident_only: bool = False,
    timeout: float = PATTERN_RUN_TIMEOUT,
    echo: bool = False,
) -> PatternRun:
    """Run the pattern worker in its own process and read its results."""
    home.mkdir(parents=True, exist_ok=True)
    out = home / "patterns.json"
    command = [
        sys.executable,
        "-m",
        "bench.adversarial_bench",
        "patterns",
        "--cache-dir",
        str(cache_dir),
        "--home",
        str(home),
        "--out",
        str(out),
        "--cap",
        str(cap),
    ]
    if sample is not None:
        command += ["--sample", str(sample)]
    if resident_only:
        command.append("--resident-only")
    for key in also:
        command += ["--also", key]
    for key in skip:
        command += ["--skip", key]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHAOREN_")}
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    try:
        for line in _lines_until(process, deadline):
            lines.append(line)
            if echo:
                print(f"  {PART:<8} {line.strip()}", flush=True)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
    log = "".join(lines)
    if process.returncode != 0 or not out.exists():
        raise RuntimeError(f"pattern worker failed ({process.returncode}):\n{log[-3000:]}")
    summary = json.loads(out.read_text(encoding="utf-8"))
    results = [CaseResult(**r) for r in summary.pop("results")]
    return PatternRun(results, summary, log)


def _lines_until(process: subprocess.Popen[str], deadline: float) -> Iterator[str]:
    assert process.stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("pattern worker ran past its time limit")
        ready, _, _ = select.select([process.stdout], [], [], min(remaining, 5.0))
        if ready:
            line = process.stdout.readline()
            if not line:
                return
            yield line
        elif process.poll() is not None:
            return


# -- endpoints -----------------------------------------------------------------------------

STAGES = (
    "first message",
    "place",
    "household",
    "income",
    "assistance",
    "needs",
    "urgency",
    "phone",
    "summary check",
    "consent",
    "charity consent",
)
# What the question before each stage contains, to tell when the script went astray.
STAGE_CUES = {"place": "哪个区", "household": "几口人", "income": "收入", "assistance": "救助"}
ENDPOINT_FAMILIES: tuple[tuple[str, str], ...] = (
    *FIXED_FAMILIES[:13],
    ("'一共'+'万'×1998", "一共" + "万" * 1998),
    ("'不是'×1000", "不是" * 1000),
    ("'我和'×1000", "我和" * 1000),
    ("'个'×2000", "个" * 2000),
    ("'三个人'×666", "三个人" * 666),
    ("'电话'+digits×1998", "电话" + "1" * 1998),
    ("spaces×2000", " " * 2000),
    ("punctuation cycle×2000", (PUNCTUATION * 100)[:2000]),
)
PARSE = "/model/parse"
WEBHOOK = "/webhooks/rest/webhook"


@dataclass(slots=True)
class Probe:
    """One adversarial request: where it was sent, what, and what came back."""

    endpoint: str
    stage: str
    input: str
    length: int
    ms: float | None = None  # None: no answer within the timeout
    status: int | None = None
    error: str | None = None
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.status is not None and self.status >= 500)


class Stall(Exception):
    """The server did not answer within the timeout."""


async def _post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], timeout: float
) -> tuple[int, Any, float]:
    started = time.perf_counter()
    try:
        async with session.post(
            url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            raw = await response.text()
            ms = (time.perf_counter() - started) * 1000
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw
            return response.status, decoded, ms
    except TimeoutError as exc:
        raise Stall from exc


async def probe(
    base_url: str,
    endpoint: str,
    stage: int,
    description: str,
    text: str,
    sender: str,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> Probe:
    """Send ``text`` to the endpoint (after the report's first ``stage`` answers) and time it."""
    stage_name = "-" if endpoint == PARSE else STAGES[stage]
    result = Probe(endpoint, stage_name, description, len(text))
    async with aiohttp.ClientSession() as session:
        try:
            if endpoint == PARSE:
                status, body, ms = await _post(session, base_url + PARSE, {"text": text}, timeout)
            else:
                asked = ""
                for answer in REPORT_ANSWERS[:stage]:
                    status, body, _ = await _post(
                        session,
                        base_url + WEBHOOK,
                        {"sender": sender, "message": answer},
                        timeout,
                    )
                    if status != 200:
                        result.status, result.error = status, f"script answer {answer!r}: {body}"
                        return result
                    asked = "\n".join(str(r.get("text", "")) for r in body)
                cue = STAGE_CUES.get(stage_name)
                if cue is not None and cue not in asked:
                    result.note = f"question was not {cue}: {asked[:40]!r}"
                status, body, ms = await _post(
                    session, base_url + WEBHOOK, {"sender": sender, "message": text}, timeout
                )
        except Stall:
            return result
        except aiohttp.ClientError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            return result
    result.ms, result.status = ms, status
    if status >= 500:
        result.error = f"HTTP {status}: {str(body)[:200]}"
    return result


def probe_all(
    cache_dir: Path,
    home: Path,
    plan: list[tuple[str, int, str, str]],
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    note: Callable[[str], None] | None = None,
) -> list[Probe]:
    """Send every (endpoint, stage, description, text) of the plan to a real server.

    A request that stalls leaves the server's event loop blocked, so the server is killed
    and a fresh one started for the next request.
    """
    from bench.server import Server

    probes: list[Probe] = []
    stalls: dict[str, int] = {}
    server: Server | None = None
    try:
        for number, (endpoint, stage, description, text) in enumerate(plan):
            if endpoint == WEBHOOK and stalls.get(description, 0) >= STALLS_PER_FAMILY:
                # Every message is parsed, and readers run at every stage: a family that
                # stalled twice would stall again, and each stall costs a server restart.
                probes.append(
                    Probe(
                        endpoint,
                        STAGES[stage],
                        description,
                        len(text),
                        note=f"not sent: stalled {STALLS_PER_FAMILY} times already",
                    )
                )
                continue
            if server is None:
                server = Server(home, f"sqlite+aiosqlite:///{home / 'zhaoren.db'}", cache_dir)
                server.start()
            result = asyncio.run(
                probe(
                    server.base_url,
                    endpoint,
                    stage,
                    description,
                    text,
                    f"adversarial-{number}",
                    timeout,
                )
            )
            probes.append(result)
            if result.ms is None and result.error is None:
                # A stall in /model/parse is a stall at every stage: count it twice.
                stalls[description] = stalls.get(description, 0) + (
                    STALLS_PER_FAMILY if endpoint == PARSE else 1
                )
                if note is not None:
                    note(
                        f"stall > {timeout:.0f}s: {endpoint} {result.stage} {description}; "
                        "restarting the server"
                    )
                kill_server(server)
                server = None
            elif server.process is not None and server.process.poll() is not None:
                result.error = result.error or "the server exited"
                server = None
    finally:
        if server is not None:
            server.stop()
    return probes


def kill_server(server: Any) -> None:
    """A server blocked in C regex code ignores SIGINT and SIGTERM until it returns."""
    process = server.process
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


def endpoint_plan(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, int, str, str]]:
    """/model/parse first (every family), then the webhook at every stage of a report."""
    families = list(dict.fromkeys(list(ENDPOINT_FAMILIES) + list(extra)))
    seen: set[str] = set()
    unique = []
    for description, text in families:
        if text not in seen:
            seen.add(text)
            unique.append((description, text[:MAX_CHARS]))
    plan = [(PARSE, 0, d, t) for d, t in unique]
    plan += [(WEBHOOK, stage, d, t) for stage in range(len(STAGES)) for d, t in unique]
    return plan


# -- the part ------------------------------------------------------------------------------


def _ms(value: float | None, cap: float) -> str:
    return f"> {cap * 1000:.0f}" if value is None else f"{value:.1f}"


def run(ctx: Context) -> None:
    ctx.brain()  # warm the model cache: the worker and the servers load, not train
    # 1. every pattern
    patterns = run_pattern_worker(ctx.cache_dir, ctx.workdir("adversarial-patterns"), echo=True)
    resident = report_patterns(ctx.report, patterns)
    # 2. every endpoint, with the slowest pattern inputs among the messages
    plan = endpoint_plan((r.input, r.text) for r in _distinct(resident, 8) if r.text)
    ctx.report.info(
        PART, f"{len(plan)} requests: /model/parse, then the webhook at {len(STAGES)} stages"
    )
    probes = probe_all(
        ctx.cache_dir,
        ctx.workdir("adversarial-server"),
        plan,
        note=lambda text: ctx.report.info(PART, text),
    )
    report_requests(ctx.report, probes)


def report_patterns(report: Report, run: PatternRun) -> list[CaseResult]:
    """Print the slowest patterns; returns the resident-text results, slowest first."""
    summary = run.summary
    report.info(
        PART,
        f"{summary['patterns']} patterns held by the server process, "
        f"{summary['resident_patterns']} of them on resident text; "
        f"{summary['inputs']} inputs timed in {summary['seconds']:.0f}s",
    )
    for result in run.results:
        if result.error is not None:
            report.error(PART, f"pattern raised: {result.key}: {result.error}")
    resident = sorted((r for r in run.results if r.resident), key=_slowness, reverse=True)
    library = sorted((r for r in run.results if not r.resident), key=_slowness, reverse=True)
    lines = [f"\n  slowest {TOP} patterns on resident text (slowest of search/findall/sub):"]
    for r in _distinct(resident, TOP):
        lines.append(
            f"    {_ms(r.ms, PATTERN_CAP_SECONDS):>8} ms {r.op or '-':<7} {r.where}\n"
            f"{'':22}/{_clip(r.source, 72)}/\n{'':22}on {r.input}"
        )
    lines.append("\n  slowest 5 library patterns (not on resident text; for information):")
    for r in _distinct(library, 5):
        lines.append(
            f"    {_ms(r.ms, PATTERN_CAP_SECONDS):>8} ms {r.where}: /{_clip(r.source, 40)}/ "
            f"on {r.input}"
        )
    print("\n".join(lines) + "\n", flush=True)
    stalled = {(r.where, r.source) for r in resident if r.ms is None}
    report.add(Figure(PART, "patterns stalled past the cap", len(stalled), "", digits=0))
    finite = [r.ms for r in resident if r.ms is not None]
    report.add(Figure(PART, "slowest pattern input (not stalled)", max(finite, default=0), "ms"))
    return resident


def report_requests(report: Report, probes: list[Probe]) -> None:
    """Print the slowest requests and the target line; 5xx answers are errors."""
    sent = [p for p in probes if not p.note.startswith("not sent")]
    lines = [f"\n  slowest {TOP} requests:"]
    for p in sorted(sent, key=_request_slowness, reverse=True)[:TOP]:
        status = p.status if p.status is not None else "-"
        extra = f"  [{p.note}]" if p.note else ""
        lines.append(
            f"    {_ms(p.ms, REQUEST_TIMEOUT_SECONDS):>8} ms  {status!s:<3} {p.endpoint:<22} "
            f"{p.stage:<15} {p.input}{extra}"
        )
    print("\n".join(lines) + "\n", flush=True)
    skipped = len(probes) - len(sent)
    if skipped:
        report.info(
            PART, f"{skipped} webhook requests not sent: their message had stalled already"
        )
    failed = [p for p in probes if p.failed]
    # One error line per message and answer: the same defect at every stage is one defect.
    grouped: dict[tuple[str, str], list[str]] = {}
    for p in failed:
        where = "/model/parse" if p.endpoint == PARSE else p.stage
        grouped.setdefault((p.input, p.error or ""), []).append(where)
    for (description, error), places in grouped.items():
        report.error(PART, f"{description}: {error} at {', '.join(places)}")
    report.add(Figure(PART, "requests answered 5xx or failed", len(failed), "", "==", 0, 0))
    timeout = f"{REQUEST_TIMEOUT_SECONDS:.0f} s"
    report.add(
        Figure(
            PART, f"requests stalled > {timeout}", sum(p.ms is None for p in sent), "", digits=0
        )
    )
    worst = max(sent, key=_request_slowness, default=None)
    shown = "n/a" if worst is None else _ms(worst.ms, REQUEST_TIMEOUT_SECONDS)
    # Timing is reported, not held: a slow request must be fixed, but not fail CI.
    print(f"\n  slowest request: {shown} ms (target ≤ {TARGET_MS:.0f} ms)", flush=True)


def _request_slowness(probe: Probe) -> float:
    return float("inf") if probe.ms is None else probe.ms


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def _distinct(results: list[CaseResult], count: int) -> list[CaseResult]:
    """The slowest result per pattern, up to ``count`` patterns."""
    out: list[CaseResult] = []
    seen: set[tuple[str, str]] = set()
    for result in results:
        key = (result.where, result.source)
        if key not in seen:
            seen.add(key)
            out.append(result)
        if len(out) == count:
            break
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["patterns"]:
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit(
        "usage: python -m bench.adversarial_bench patterns --cache-dir DIR --home DIR --out F"
    )
