"""Shared fixtures: one trained brain per test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.assembly import Assistant, Brain, load_brain, open_assistant
from bot.config import Settings

# The server the PostgreSQL tests use. Each test run creates a database of its own there
# (and drops it at the end), so that two runs on one machine never see each other's rows.
POSTGRES_SERVER_URL = os.environ.get(
    "ZHAOREN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _port_open("127.0.0.1", 5432)


async def _create_or_drop_database(name: str, create: bool) -> None:
    import asyncpg

    url = POSTGRES_SERVER_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(url)
    try:
        if create:
            await connection.execute(f'CREATE DATABASE "{name}"')
        else:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server (skips without one)."""
    if not POSTGRES_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"zhaoren_test_{os.getpid()}_{secrets.token_hex(4)}"
    # In a thread of its own: the first test to ask for it is already inside an event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _create_or_drop_database(name, create=True)).result()
        try:
            yield POSTGRES_SERVER_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            thread.submit(asyncio.run, _create_or_drop_database(name, create=False)).result()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def brain(model_cache: Path) -> Brain:
    settings = Settings.from_env({"ZHAOREN_CACHE_DIR": str(model_cache)})
    return load_brain(settings)


def sqlite_settings(path: Path, model_cache: Path, **extra: str) -> Settings:
    # Tests play many residents from one loopback address: the rate limits have tests of
    # their own (tests/test_bot/test_rate_limits.py), which turn them on.
    return Settings.from_env(
        {
            "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{path}",
            "ZHAOREN_CACHE_DIR": str(model_cache),
            "ZHAOREN_RATE_LIMITS": "off",
            **extra,
        }
    )


@pytest.fixture
def settings(tmp_path: Path, model_cache: Path) -> Settings:
    return sqlite_settings(tmp_path / "zhaoren.db", model_cache)


@pytest.fixture
async def assistant(settings: Settings, brain: Brain) -> AsyncIterator[Assistant]:
    assistant = await open_assistant(settings, brain)
    try:
        yield assistant
    finally:
        await assistant.close()


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from bot.storage.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            # Every table, including those later migrations add.
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_assistant(
    request: pytest.FixtureRequest, tmp_path: Path, model_cache: Path, brain: Brain
) -> AsyncIterator[Assistant]:
    """The same test on SQLite and, where the machine has it, on PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        await _reset_postgres(url)
        settings = Settings.from_env(
            {
                "ZHAOREN_DATABASE_URL": url,
                "ZHAOREN_CACHE_DIR": str(model_cache),
                "ZHAOREN_RATE_LIMITS": "off",
            }
        )
    else:
        settings = sqlite_settings(tmp_path / "zhaoren.db", model_cache)
    assistant = await open_assistant(settings, brain)
    try:
        yield assistant
    finally:
        await assistant.close()


@pytest.fixture
def no_network() -> Iterator[None]:
    yield


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_settings(
    request: pytest.FixtureRequest, tmp_path: Path, model_cache: Path
) -> Settings:
    """Settings for an empty database on SQLite and, where the machine has it, PostgreSQL.

    For tests that open (and reopen) assistants themselves, e.g. across a restart.
    """
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        await _reset_postgres(url)
        return Settings.from_env(
            {
                "ZHAOREN_DATABASE_URL": url,
                "ZHAOREN_CACHE_DIR": str(model_cache),
                "ZHAOREN_RATE_LIMITS": "off",
            }
        )
    return sqlite_settings(tmp_path / "zhaoren.db", model_cache)
