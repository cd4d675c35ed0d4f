"""Several ``zhaoren serve`` processes on one PostgreSQL: no lead lost, none duplicated.

Real server processes (subprocesses on loopback ports) share the test run's own database.
200 residents each complete a self-report, every message sent to a different process than
the resident's previous one, while one process is killed (``kill -9``) and restarted; the
client retries a failed message with the same ``message_id``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.assembly import Assistant, Brain
from tests.conftest import POSTGRES_AVAILABLE, _port_open
from tests.test_dialogues.helpers import Resident as LocalResident

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ZHAOREN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_AVAILABLE = _port_open("127.0.0.1", 6379)
RESIDENTS = 200
PROCESSES = 3
STARTUP_SECONDS = 300.0  # a busy machine loads the cached model slowly
LEAD_ID = re.compile(r"L-\d{8}-\d+")

DISTRICTS = ["长宁区新华路街道", "浦东新区花木街道", "长宁区周家桥街道"]
NEEDS = [
    ("老伴住院了医药费付不起", "medical"),
    ("房租交不上了", "housing"),
    ("孩子上学的学费交不起", "education"),
    ("想找工作", "employment"),
]


@dataclass(frozen=True)
class Report:
    """What one resident tells: the lead must say exactly this."""

    index: int

    @property
    def sender(self) -> str:
        return f"mp-resident-{self.index}"

    @property
    def size(self) -> int:
        return 2 + self.index % 4

    @property
    def need(self) -> tuple[str, str]:
        return NEEDS[self.index // 4 % len(NEEDS)]

    @property
    def phone(self) -> str:
        return f"139{self.index:08d}"

    def messages(self) -> list[str]:
        return [
            "要登记",
            DISTRICTS[self.index % len(DISTRICTS)],
            f"{self.size}个人",
            "没收入",
            "没有",  # no assistance now
            self.need[0],
            "不急",
            self.phone,
            "/affirm",  # the summary is right
            "/affirm",  # consent: caseworker
            "/deny",  # consent: charity
        ]


def check_lead(report: Report, phone: str | None, data: dict[str, Any]) -> list[str]:
    """What differs between a stored lead and what the resident said (empty: intact)."""
    problems = []
    if data["household"].get("size") != report.size:
        problems.append(f"household size {data['household'].get('size')} != {report.size}")
    categories = sorted({n["category"] for n in data["needs"]})
    if categories != [report.need[1]]:
        problems.append(f"needs {categories} != [{report.need[1]!r}]")
    if phone != report.phone:
        problems.append(f"phone {phone} != {report.phone}")
    return problems


async def test_the_script_gives_the_report_on_one_process(assistant: Assistant) -> None:
    """The premise of the multi-process test: each variant of the script ends in its lead."""
    for index in range(16):  # every size and need
        report = Report(index)
        resident = LocalResident(assistant, report.sender)
        for message in report.messages():
            reply = await resident.say(message)
        assert LEAD_ID.search(reply), reply
    leads = await LocalResident(assistant, "reader").leads()
    assert len(leads) == 16
    for index, lead in enumerate(leads):
        assert check_lead(Report(index), lead["contact"]["phone"], lead) == []


# -- real server processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """One ``zhaoren serve`` subprocess on a loopback port (killed at the end, whatever)."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1):
        self.env = env
        self.log = log
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.up = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited:\n{self.log_text()[-3000:]}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            self.up = True
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
        raise AssertionError(f"server not healthy in time:\n{self.log_text()[-3000:]}")

    def kill(self) -> None:
        self.up = False
        assert self.process is not None
        self.process.kill()  # SIGKILL: no clean-up of any kind
        self.process.wait()

    def stop(self) -> None:
        self.up = False
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def server_env(tmp_path: Path, model_cache: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHAOREN_")}
    env.update(
        ZHAOREN_HOME=str(tmp_path / "home"),
        ZHAOREN_DATABASE_URL=database_url,
        ZHAOREN_CACHE_DIR=str(model_cache),
        ZHAOREN_RATE_LIMITS="off",  # 200 residents from one loopback address
        PYTHONUNBUFFERED="1",
    )
    return env


async def reset_database(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # Every table, including those later migrations add.
        await connection.execute("DROP SCHEMA public CASCADE")
        await connection.execute("CREATE SCHEMA public")
    finally:
        await connection.close()


async def stored_leads(url: str) -> list[tuple[str | None, dict[str, Any]]]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch("SELECT phone, data FROM leads")
    finally:
        await connection.close()
    return [(row["phone"], json.loads(row["data"])) for row in rows]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    if not REDIS_AVAILABLE:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    from redis import Redis

    prefix = f"zhaoren-test-{os.getpid()}-{secrets.token_hex(4)}:"
    yield prefix
    with Redis.from_url(REDIS_URL) as redis:
        for key in redis.scan_iter(match=f"{prefix}*"):
            redis.delete(key)


@dataclass
class Traffic:
    """What the client saw: failures it retried, and which server got each message."""

    failures: int = 0
    answered: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)
    final_replies: dict[int, str] = field(default_factory=dict)


async def send(
    session: aiohttp.ClientSession,
    servers: list[Serve],
    avoid: Serve | None,
    sender: str,
    message: str,
    message_id: str,
    traffic: Traffic,
) -> tuple[Serve, str]:
    """Send to a live server other than ``avoid``; retry failures with the same message id."""
    for _attempt in range(40):
        live = [s for s in servers if s.up and s is not avoid] or [s for s in servers if s.up]
        server = random.choice(live)
        try:
            async with session.post(
                f"{server.url}/webhooks/rest/webhook",
                json={"sender": sender, "message": message, "message_id": message_id},
            ) as response:
                body = await response.json(content_type=None)
                if response.status == 200:
                    traffic.answered += 1
                    return server, "\n".join(r["text"] for r in body)
                kind = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            kind = type(exc).__name__
        traffic.failures += 1
        traffic.failure_kinds[kind] = traffic.failure_kinds.get(kind, 0) + 1
        avoid = server
        await asyncio.sleep(0.25)
    raise AssertionError(f"{sender}: {message!r} failed 40 times")


async def resident(
    session: aiohttp.ClientSession, servers: list[Serve], report: Report, traffic: Traffic
) -> None:
    await asyncio.sleep(random.uniform(0, 2))  # residents do not all start in one instant
    previous: Serve | None = None
    reply = ""
    for step, message in enumerate(report.messages()):
        previous, reply = await send(
            session, servers, previous, report.sender, message, f"{report.sender}-{step}", traffic
        )
    traffic.final_replies[report.index] = reply


@pytest.fixture
def servers() -> Iterator[list[Serve]]:
    """Server processes of one test; every one still running is stopped at the end."""
    started: list[Serve] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.mark.parametrize("lock", ["postgres", "redis"])
async def test_processes_sharing_postgres_lose_and_duplicate_no_lead(
    request: pytest.FixtureRequest,
    lock: str,
    tmp_path: Path,
    model_cache: Path,
    brain: Brain,  # the model is trained once, here: the servers only load it
    servers: list[Serve],
) -> None:
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = request.getfixturevalue("postgres_url")
    env = server_env(tmp_path, model_cache, url)
    if lock == "redis":
        env.update(
            ZHAOREN_REDIS_URL=REDIS_URL,
            ZHAOREN_REDIS_PREFIX=request.getfixturevalue("redis_prefix"),
        )
    await reset_database(url)
    for number in range(PROCESSES):
        servers.append(Serve(env, tmp_path / f"server-{number}.log"))
    for server in servers:
        server.start()  # all at once: they also race to migrate the empty database
    await asyncio.gather(*(s.wait_healthy() for s in servers))

    traffic = Traffic()
    reports = [Report(i) for i in range(RESIDENTS)]
    connector = aiohttp.TCPConnector(limit=RESIDENTS)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        work = asyncio.gather(*(resident(session, servers, r, traffic) for r in reports))
        # Well into the run, whatever the machine's speed (a fixed delay let a quiet machine
        # finish first): a fifth of the messages answered, many in flight everywhere.
        while traffic.answered < RESIDENTS * 2 and not work.done():
            await asyncio.sleep(0.01)
        victim = servers[0]
        victim.kill()
        victim.start()
        await victim.wait_healthy()
        await asyncio.wait_for(work, 600)

    leads = await stored_leads(url)
    by_phone: dict[str | None, list[dict[str, Any]]] = {}
    for phone, data in leads:
        by_phone.setdefault(phone, []).append(data)
    lost = [r.index for r in reports if r.phone not in by_phone]
    duplicated = [r.index for r in reports if len(by_phone.get(r.phone, [])) > 1]
    damaged = {
        r.index: problems
        for r in reports
        for data in by_phone.get(r.phone, [])
        if (problems := check_lead(r, r.phone, data))
    }
    no_reference = [i for i, reply in traffic.final_replies.items() if not LEAD_ID.search(reply)]
    assert traffic.failures > 0, "the kill hit no request in flight: the test proved nothing"
    assert not (lost or duplicated or damaged or no_reference), (
        f"{len(lost)} residents' leads lost (e.g. {lost[:5]}), {len(duplicated)} duplicated "
        f"({duplicated[:5]}), {len(damaged)} not as told ({list(damaged.items())[:3]}), "
        f"{len(no_reference)} got no lead reference; failures retried: {traffic.failure_kinds}"
    )
    assert len(leads) == RESIDENTS
    for server in servers:
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]


# -- zhaoren serve --workers N -----------------------------------------------------------


def workers_of(parent: int) -> set[int]:
    """The parent's worker processes (not multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return set()
    found = set()
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.add(pid)
    return found


async def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_workers_refuse_sqlite_with_a_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHAOREN_")}
    env["ZHAOREN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'z.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--workers", "2", "--port", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--workers 2 needs PostgreSQL" in result.stderr
    assert "SQLite" in result.stderr and "Traceback" not in result.stderr


async def test_workers_restart_a_dead_one_and_finish_requests_on_sigterm(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    model_cache: Path,
    brain: Brain,
    servers: list[Serve],
) -> None:
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import asyncpg  # type: ignore[import-untyped]

    from bot.storage.locks import advisory_key

    url = request.getfixturevalue("postgres_url")
    await reset_database(url)
    server = Serve(server_env(tmp_path, model_cache, url), tmp_path / "workers.log", workers=2)
    servers.append(server)
    server.start()
    assert server.process is not None
    parent = server.process.pid
    await server.wait_healthy()
    await wait_for(lambda: server.log_text().count("zhaoren listening") == 2, 300, "2 workers")
    assert "NLU trained" not in server.log_text()  # trained once, before: only loaded
    first = workers_of(parent)
    assert len(first) == 2

    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    await wait_for(lambda: len(workers_of(parent) - first) == 1, 60, "a new worker")
    await wait_for(lambda: server.log_text().count("zhaoren listening") == 3, 300, "it to listen")
    assert len(workers_of(parent)) == 2 and victim not in workers_of(parent)

    # A message in flight when SIGTERM arrives is answered before the worker exits: hold
    # the conversation's lock from outside so the message is still waiting for it.
    holder = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", advisory_key("rest:slow-resident"))
        async with aiohttp.ClientSession() as session:
            in_flight = asyncio.ensure_future(
                session.post(
                    f"{server.url}/webhooks/rest/webhook",
                    json={"sender": "slow-resident", "message": "低保怎么申请"},
                )
            )
            await asyncio.sleep(1.5)
            assert not in_flight.done()
            server.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.5)
            assert server.process.poll() is None  # still finishing the request
            await holder.execute("SELECT pg_advisory_unlock_all()")
            response = await asyncio.wait_for(in_flight, 30)
            assert response.status == 200
            assert "低保" in (await response.json())[0]["text"]
            response.release()
    finally:
        await holder.close()
    code = await asyncio.to_thread(server.process.wait, 60)
    assert code == 0
    assert workers_of(parent) == set()
    assert "all workers stopped" in server.log_text()
    assert "Traceback" not in server.log_text()
