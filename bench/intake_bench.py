"""Part 4: 200 residents complete the intake at once; every lead is stored exactly once.

With ``--correctness`` (CI) only what must always hold is checked, on a small load and
without timing targets: no lead lost or duplicated; two residents giving one phone and
finishing at the same moment make two leads (never merged by phone), each told their own
reference; and a double tap of the last message makes one lead.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import client
from bench.common import Context
from bench.report import Figure, Report, percentile
from bench.server import Server

PART = "intake"
RESIDENTS = 200
RUN_TIMEOUT = 240.0  # seconds for all residents together
THROUGHPUT_TARGET = 200.0  # messages per second
P99_TARGET_MS = 100.0
# Real residents read and type between messages. The paced run gives each one a pause of
# 0.5–1.5 s before every message: 200 residents then offer about 200 messages a second,
# and p99 is measured at that load. The back-to-back run measures the most the server can
# take; its latency is queueing (Little's law), not service time.
THINK_SECONDS = (0.5, 1.5)
# Residents do not all open the chat in the same second: the paced run ramps up over this
# many seconds. Each intake lasts about 8 s, so all 200 are still in progress together.
RAMP_UP_SECONDS = 4.0
LEAD_ID = re.compile(r"L-\d{8}-\d+")
# The correctness-only run (CI): enough residents at once to interleave their writes, and
# pairs of reports of one phone whose last message is sent by both at the same moment.
CHECK_RESIDENTS = 40
SAME_PHONE_PAIRS = 10


def phone(index: int) -> str:
    return f"1380000{index:04d}"


def shared_phone(pair: int) -> str:
    """The phone both residents of a same-phone pair give."""
    return f"1390000{pair:04d}"


def script(index: int, phone_number: str | None = None) -> list[str]:
    """One resident's whole intake, answering the buttons with their payloads."""
    return [
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
        "没有",  # assistance button
        "老伴住院了医药费付不起",
        "比较急",  # urgency button
        f"{phone_number or phone(index)} 我姓王",
        "/affirm",  # the summary is right
        "/affirm",  # consent: caseworker
        "/deny",  # consent: charity
    ]


@dataclass(slots=True)
class Resident:
    index: int
    outcomes: list[client.Outcome] = field(default_factory=list)

    @property
    def lead_id(self) -> str | None:
        if not self.outcomes or self.outcomes[-1].error is not None:
            return None
        match = LEAD_ID.search(self.outcomes[-1].text)
        return match.group(0) if match else None

    def transcript(self) -> str:
        lines = []
        for message, outcome in zip(script(self.index), self.outcomes, strict=False):
            answer = outcome.error or outcome.text
            lines.append(f"    > {message}\n    < {answer[:160]!r}")
        return "\n".join(lines)


async def _resident(
    session: aiohttp.ClientSession, base_url: str, index: int, paced: bool
) -> Resident:
    resident = Resident(index)
    pause = random.Random(index)
    if paced:
        await asyncio.sleep(pause.uniform(0, RAMP_UP_SECONDS))
    for message in script(index):
        if paced:
            await asyncio.sleep(pause.uniform(*THINK_SECONDS))
        outcome = await client.send(session, base_url, f"bench-intake-{index}", message)
        resident.outcomes.append(outcome)
        if outcome.error is not None:
            break  # a resident whose message failed does not go on
    return resident


async def _same_phone_pair(
    session: aiohttp.ClientSession, base_url: str, pair: int
) -> tuple[str | None, str | None, str | None]:
    """Two residents report with one phone and finish together; the first taps twice.

    Returns the lead references told to the first resident (both taps) and the second.
    """
    messages = script(pair, shared_phone(pair))
    senders = [f"bench-same-{pair}-a", f"bench-same-{pair}-b"]

    async def until_last(sender: str) -> None:
        for message in messages[:-1]:
            await client.send(session, base_url, sender, message)

    await asyncio.gather(*(until_last(s) for s in senders))
    last = await asyncio.gather(
        *(client.send(session, base_url, s, messages[-1]) for s in [senders[0], *senders])
    )
    found = [LEAD_ID.search(o.text) if o.error is None else None for o in last]
    first, tapped_again, second = (m.group(0) if m else None for m in found)
    return first, tapped_again, second


async def _same_phone_load(
    server: Server,
) -> list[tuple[str | None, str | None, str | None]]:
    async with client.session(2 * SAME_PHONE_PAIRS) as session:
        return list(
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        _same_phone_pair(session, server.base_url, p)
                        for p in range(SAME_PHONE_PAIRS)
                    )
                ),
                RUN_TIMEOUT,
            )
        )


async def _load(
    server: Server, paced: bool, residents_count: int = RESIDENTS
) -> tuple[list[Resident], float, float]:
    base_url = server.base_url
    async with client.session(residents_count) as session:
        # Warm-up: one short exchange outside the measured residents (no lead is posted).
        for message in ["你好", "低保怎么申请"]:
            await client.send(session, base_url, "bench-intake-warmup", message)
        server.profile_start()
        started = time.perf_counter()
        client_cpu = time.process_time()
        residents = await asyncio.wait_for(
            asyncio.gather(
                *(_resident(session, base_url, i, paced) for i in range(residents_count))
            ),
            RUN_TIMEOUT,
        )
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server.profile_stop()
    return list(residents), wall, client_cpu


# -- the database, read directly ------------------------------------------------------------


def _sqlite_leads(path: Path) -> list[tuple[int, str | None]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute("SELECT seq, phone FROM leads")
        return [(int(row[0]), row[1]) for row in rows]
    finally:
        connection.close()


def _error_kinds(log: str) -> str:
    """The exception lines that end the log's tracebacks, counted."""
    counts: dict[str, int] = {}
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            for follow in lines[index + 1 :]:
                if follow and not follow[0].isspace():
                    kind = follow.split(":", 1)[0]
                    counts[kind] = counts.get(kind, 0) + 1
                    break
    return ", ".join(f"{k} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


# -- the part -------------------------------------------------------------------------------


def run(ctx: Context) -> None:
    ctx.brain()  # make sure the model cache is warm: the servers load, not train
    _run_on(ctx, "sqlite", paced=False)
    if not ctx.correctness:
        _run_on(ctx, "sqlite", paced=True)
    use_postgres = ctx.postgres
    if use_postgres is None:
        use_postgres = ctx.pg.reachable()
        if not use_postgres:
            ctx.report.info(
                PART,
                f"PostgreSQL not reachable at {ctx.pg.where()}; "
                "skipped (use --postgres to require it)",
            )
    if use_postgres:
        _run_on(ctx, "postgresql", paced=False)
        if not ctx.correctness:
            _run_on(ctx, "postgresql", paced=True)


def _run_on(ctx: Context, backend: str, paced: bool) -> None:
    report = ctx.report
    part = f"{PART}-pg" if backend == "postgresql" else f"{PART}-sq"
    part += "-paced" if paced else ""
    home = ctx.workdir(f"intake-{backend}{'-paced' if paced else ''}")
    pg = ctx.pg
    if backend == "postgresql":
        if not pg.reachable():
            report.error(part, f"PostgreSQL required but not reachable at {pg.where()}")
            return
        asyncio.run(pg.reset())
        others = asyncio.run(pg.other_clients())
        if others:
            report.info(
                part,
                f"WARNING: {len(others)} other session(s) on {pg.where()} "
                f"before the run; they may disturb it: {others[:3]}",
            )
        url = pg.url
    else:
        db_path = home / "zhaoren.db"
        url = f"sqlite+aiosqlite:///{db_path}"
    profile = ctx.profile_path(home)
    with Server(home, url, ctx.cache_dir, profile) as server:
        report.info(
            part,
            f"server pid {server.pid} on {server.base_url}, "
            f"{pg.where() if backend == 'postgresql' else 'SQLite'}, "
            f"healthy after {server.startup_seconds:.1f}s ({server.nlu_start()})",
        )
        cpu_before = server.cpu_seconds()
        count = CHECK_RESIDENTS if ctx.correctness else RESIDENTS
        residents, wall, client_cpu = asyncio.run(_load(server, paced, count))
        cpu = server.cpu_seconds() - cpu_before
        pairs = asyncio.run(_same_phone_load(server)) if ctx.correctness else []
        memory = server.memory_kb()
        leads = asyncio.run(pg.leads()) if backend == "postgresql" else _sqlite_leads(db_path)
        server_log = server.log_text()

    outcomes = [o for r in residents for o in r.outcomes]
    ok = [o for o in outcomes if o.error is None]
    errors = [o for o in outcomes if o.error is not None]
    ms = [o.seconds * 1000 for o in ok]
    finished = [r for r in residents if r.lead_id is not None]
    unfinished = [r for r in residents if r.lead_id is None]
    reply_ids = [r.lead_id for r in finished]

    expected = {phone(i) for i in range(count)}
    per_phone: dict[str, int] = {}
    for _lead_id, lead_phone in leads:
        key = _digits(lead_phone)
        per_phone[key] = per_phone.get(key, 0) + 1
    if pairs:
        _check_same_phone(report, part, pairs, per_phone)
        shared = _shared_phones()
        leads = [(seq, p) for seq, p in leads if _digits(p) not in shared]
        per_phone = {p: n for p, n in per_phone.items() if p not in shared}
    lost = sorted(p for p in expected if per_phone.get(p, 0) == 0)
    duplicated = sum(n - 1 for p, n in per_phone.items() if p in expected and n > 1)
    strangers = sum(n for p, n in per_phone.items() if p not in expected)
    # A lead's reference is L-<date>-<sequence>: the sequence is what the database holds.
    db_seqs = {seq for seq, _ in leads}
    ids_not_in_db = [i for i in reply_ids if i and int(i.rsplit("-", 1)[1]) not in db_seqs]

    report.info(
        part,
        f"{count} residents x {len(script(0))} messages = {len(outcomes)} sent "
        f"in {wall:.2f}s; {len(errors)} errors; {len(finished)} got an L- reference "
        f"({len(set(reply_ids))} distinct)",
    )
    report.info(
        part,
        f"CPU during the load: server {cpu:.2f}s ({cpu / wall:.0%} of one core), "
        f"client {client_cpu:.2f}s ({client_cpu / wall:.0%}); server CPU per message "
        f"{cpu / max(1, len(outcomes)) * 1000:.2f} ms; Little's law: {count} "
        f"back-to-back residents at {len(ok) / wall:.0f} msg/s wait "
        f"≈ {count / max(1e-9, len(ok) / wall) * 1000:.0f} ms per message",
    )
    steps = [
        percentile([r.outcomes[i].seconds * 1000 for r in residents if len(r.outcomes) > i], 99)
        for i in range(len(script(0)))
    ]
    report.info(part, "p99 by step (ms): " + ", ".join(f"{v:.0f}" for v in steps))
    for error in errors[:3]:
        report.info(part, f"  e.g. {error.error}")
    if unfinished:
        first = unfinished[0]
        report.info(part, f"  resident {first.index} got no L- reference:\n{first.transcript()}")
    if "Traceback" in server_log:
        report.info(
            part,
            f"  server log has {server_log.count('Traceback')} traceback(s); "
            f"kinds: {_error_kinds(server_log)}",
        )
        tail = server_log[server_log.index("Traceback") :].splitlines()
        end = next(
            (
                i
                for i, line in enumerate(tail)
                if line
                and not line[0].isspace()
                and i > 0
                and not line.startswith(("Traceback", "The above", "During"))
            ),
            len(tail) - 1,
        )
        report.info(
            part,
            "  first traceback, last lines:\n      "
            + "\n      ".join(tail[max(0, end - 8) : end + 1]),
        )
    if "UndefinedTableError" in server_log or "no such table" in server_log:
        report.error(
            part,
            "the tables vanished during the run: another client (e.g. a test "
            "suite on the same database) reset it; these figures are not valid",
        )
    if ctx.correctness:  # figures without targets: a small load on a busy CI machine
        report.add(Figure(part, "throughput", len(ok) / wall, "msg/s", digits=1))
        report.add(Figure(part, "p99 latency (queueing)", percentile(ms, 99), "ms", digits=1))
    elif paced:
        report.add(Figure(part, "offered load", len(ok) / wall, "msg/s", digits=1))
        report.add(Figure(part, "p50 latency", percentile(ms, 50), "ms", digits=1))
        report.add(Figure(part, "p99 latency", percentile(ms, 99), "ms", "<=", P99_TARGET_MS, 1))
    else:
        report.add(Figure(part, "throughput", len(ok) / wall, "msg/s", ">=", THROUGHPUT_TARGET, 1))
        report.add(Figure(part, "p50 latency (queueing)", percentile(ms, 50), "ms", digits=1))
        report.add(Figure(part, "p99 latency (queueing)", percentile(ms, 99), "ms", digits=1))
    report.add(Figure(part, "residents without L- reference", len(unfinished), "", "==", 0, 0))
    report.add(Figure(part, "leads in database", len(leads), "", "==", count, 0))
    report.add(Figure(part, "leads lost", len(lost), "", "==", 0, 0))
    report.add(Figure(part, "leads duplicated", duplicated + strangers, "", "==", 0, 0))
    report.add(Figure(part, "replied ids missing in database", len(ids_not_in_db), "", "==", 0, 0))
    report.add(Figure(part, "messages answered with an error", len(errors), "", "==", 0, 0))
    report.info(part, f"server peak RSS (VmHWM) {memory.get('VmHWM', 0) / 1024:.1f} MB")
    ctx.print_profile(part, profile)


def _shared_phones() -> set[str]:
    return {shared_phone(p) for p in range(SAME_PHONE_PAIRS)}


def _check_same_phone(
    report: Report,
    part: str,
    pairs: list[tuple[str | None, str | None, str | None]],
    per_phone: dict[str, int],
) -> None:
    """Each pair: one lead per resident (a phone proves nothing about who writes).

    The first resident's double tap makes one lead, and both taps are told its reference;
    the second resident is told their own reference, never the first one's.
    """
    leads_per_pair = [per_phone.get(shared_phone(p), 0) for p in range(len(pairs))]
    wrong = [
        f"pair {p}: {a} / {again} / {b}"
        for p, (a, again, b) in enumerate(pairs)
        if a is None or b is None or a != again or a == b
    ]
    report.info(
        part,
        f"{len(pairs)} same-phone pairs finishing together (one tapping twice): leads per "
        f"phone {sorted(set(leads_per_pair))}; " + ("; ".join(wrong[:3]) or "all told right"),
    )
    report.add(
        Figure(
            part, "same-phone leads not two", sum(n != 2 for n in leads_per_pair), "", "==", 0, 0
        )
    )
    report.add(Figure(part, "same-phone pairs told wrong ids", len(wrong), "", "==", 0, 0))
