"""Shared fixtures: one trained brain per test session, a fresh database per test."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.assembly import Assistant, Brain, load_brain, open_assistant
from bot.config import Settings

POSTGRES_URL = os.environ.get(
    "ZHAOREN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _port_open("127.0.0.1", 5432)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def brain(model_cache: Path) -> Brain:
    settings = Settings.from_env({"ZHAOREN_CACHE_DIR": str(model_cache)})
    return load_brain(settings)


def sqlite_settings(path: Path, model_cache: Path) -> Settings:
    return Settings.from_env(
        {
            "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{path}",
            "ZHAOREN_CACHE_DIR": str(model_cache),
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


async def _reset_postgres() -> None:
    from sqlalchemy import text

    from bot.storage.db import create_engine

    engine = create_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            for table in ("lead_notes", "leads", "users", "conversations", "alembic_version"):
                await conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_assistant(
    request: pytest.FixtureRequest, tmp_path: Path, model_cache: Path, brain: Brain
) -> AsyncIterator[Assistant]:
    """The same test on SQLite and, where the machine has it, on PostgreSQL."""
    if request.param == "postgresql":
        if not POSTGRES_AVAILABLE:
            pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
        await _reset_postgres()
        settings = Settings.from_env(
            {"ZHAOREN_DATABASE_URL": POSTGRES_URL, "ZHAOREN_CACHE_DIR": str(model_cache)}
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
