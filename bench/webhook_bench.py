"""Part 3: REST webhook throughput and latency, and the server's peak memory."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench import client
from bench.common import Context
from bench.report import Figure, percentile
from bench.server import Server

PART = "webhook"
SENDERS = 50
MESSAGES_PER_SENDER = 20
RUN_TIMEOUT = 180.0  # seconds for the whole measured phase
THROUGHPUT_TARGET = 300.0  # messages per second
RSS_TARGET_MB = 250.0

# Policy questions (answered from the knowledge base) and small talk; none starts an intake.
POLICY_QUESTIONS = [
    "低保怎么申请",
    "请问最低生活保障一个月能拿多少钱",
    "特困供养需要什么条件",
    "医疗救助能报销多少",
    "临时救助去哪里办",
    "申请低保要带什么材料",
    "低保边缘家庭是什么意思",
    "我们长宁这边低保标准是多少",
    "特困人员供养去哪里办",
    "低保申请下来要多久",
]
SMALL_TALK = ["你好", "在吗", "谢谢", "早上好啊", "您好 请问有人吗", "好的谢谢你"]


def script(index: int) -> list[str]:
    """A sender's messages: mostly policy questions, every third one small talk."""
    out: list[str] = []
    for n in range(MESSAGES_PER_SENDER):
        k = index + n
        if n % 3 == 0:
            out.append(SMALL_TALK[k % len(SMALL_TALK)])
        else:
            out.append(POLICY_QUESTIONS[k % len(POLICY_QUESTIONS)])
    return out


async def _sender(
    session: aiohttp.ClientSession, base_url: str, index: int
) -> list[client.Outcome]:
    outcomes = []
    for message in script(index):
        outcomes.append(await client.send(session, base_url, f"bench-web-{index}", message))
    return outcomes


async def _load(server: Server) -> tuple[list[client.Outcome], float, float]:
    base_url = server.base_url
    async with client.session(SENDERS) as session:
        # Warm-up: every distinct message once, from a sender that is not measured.
        for message in POLICY_QUESTIONS + SMALL_TALK:
            await client.send(session, base_url, "bench-web-warmup", message)
        server.profile_start()
        started = time.perf_counter()
        client_cpu = time.process_time()
        results = await asyncio.wait_for(
            asyncio.gather(*(_sender(session, base_url, i) for i in range(SENDERS))),
            RUN_TIMEOUT,
        )
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server.profile_stop()
    return [o for per_sender in results for o in per_sender], wall, client_cpu


def run(ctx: Context) -> None:
    report = ctx.report
    ctx.brain()  # make sure the model cache is warm: the server loads, not trains
    home = ctx.workdir("webhook")
    url = f"sqlite+aiosqlite:///{home / 'zhaoren.db'}"
    profile = ctx.profile_path(home)
    with Server(home, url, ctx.cache_dir, profile) as server:
        report.info(
            PART,
            f"server pid {server.pid} on {server.base_url}, SQLite, "
            f"healthy after {server.startup_seconds:.1f}s ({server.nlu_start()})",
        )
        before = server.memory_kb()
        cpu_before = server.cpu_seconds()
        outcomes, wall, client_cpu = asyncio.run(_load(server))
        cpu = server.cpu_seconds() - cpu_before
        after = server.memory_kb()
    ok = [o for o in outcomes if o.error is None]
    errors = [o for o in outcomes if o.error is not None]
    ms = [o.seconds * 1000 for o in ok]
    answered = sum(1 for o in ok if "【" in o.text)
    report.info(
        PART,
        f"{SENDERS} concurrent senders x {MESSAGES_PER_SENDER} messages = {len(outcomes)} "
        f"in {wall:.2f}s; {len(errors)} errors; {answered} policy answers",
    )
    report.info(
        PART,
        f"CPU during the load: server {cpu:.2f}s ({cpu / wall:.0%} of one core, "
        f"warm-up included), client {client_cpu:.2f}s ({client_cpu / wall:.0%}); "
        f"server CPU per message {cpu / len(outcomes) * 1000:.2f} ms",
    )
    for error in errors[:3]:
        report.info(PART, f"  e.g. {error.error}")
    report.add(Figure(PART, "throughput", len(ok) / wall, "msg/s", ">=", THROUGHPUT_TARGET, 1))
    report.add(Figure(PART, "p50 latency", percentile(ms, 50), "ms", digits=1))
    report.add(Figure(PART, "p99 latency", percentile(ms, 99), "ms", digits=1))
    report.add(Figure(PART, "failed messages", len(errors), "", "==", 0, 0))
    report.info(
        PART,
        f"server RSS after start-up {before.get('VmRSS', 0) / 1024:.1f} MB, "
        f"after load {after.get('VmRSS', 0) / 1024:.1f} MB",
    )
    peak_mb = after.get("VmHWM", 0) / 1024
    report.add(Figure(PART, "server peak RSS (VmHWM)", peak_mb, "MB", "<=", RSS_TARGET_MB, 1))
    ctx.print_profile(PART, profile)
