"""Staff tokens: they expire, and an administrator lists, revokes and rotates them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient
from sqlalchemy import text, update

from bot.assembly import Assistant
from bot.config import Settings
from bot.storage import accounts
from bot.storage.common import utc
from bot.storage.db import alembic_config, create_engine, migrate
from bot.storage.models import User
from bot.web.app import create_app

PROJECT = Path(__file__).resolve().parents[2]


def zhaoren(
    args: list[str], env: dict[str, str], ok: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=PROJECT,
        timeout=120,
        check=False,
    )
    assert (result.returncode == 0) == ok, result.stderr[-2000:]
    return result


async def _status(client: object, token: str) -> tuple[int, str]:
    resp = await client.get(  # type: ignore[attr-defined]
        "/api/v1/leads", headers={"Authorization": f"Bearer {token}"}
    )
    body = await resp.json()
    return resp.status, body.get("error", "")


async def test_revoked_rotated_and_expired_tokens_are_refused_on_the_next_request(
    aiohttp_client: AiohttpClient, settings: Settings, any_db_assistant: Assistant
) -> None:
    sessions = any_db_assistant.sessions
    _user, kept = await accounts.add_user(sessions, "cw_kept", "caseworker", "长宁区")
    _user, revoked = await accounts.add_user(sessions, "cw_revoked", "caseworker", "长宁区")
    _user, rotated = await accounts.add_user(sessions, "cw_rotated", "caseworker", "长宁区")
    _user, expiring = await accounts.add_user(sessions, "cw_expiring", "caseworker", "长宁区")
    client = await aiohttp_client(await create_app(settings, assistant=any_db_assistant))
    for token in (kept, revoked, rotated, expiring):
        assert (await _status(client, token))[0] == 200

    await accounts.revoke(sessions, "cw_revoked")
    _user, fresh = await accounts.rotate(sessions, "cw_rotated")
    async with sessions() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.name == "cw_expiring")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    # The very next request, on the same running app: no cache keeps them alive.
    assert await _status(client, revoked) == (401, "this token has been revoked")
    assert (await _status(client, rotated))[0] == 401
    assert (await _status(client, fresh))[0] == 200
    code, message = await _status(client, expiring)
    assert code == 401 and "expired" in message
    assert (await _status(client, kept))[0] == 200

    # Rotating a revoked account lets its holder back in, with the new token only.
    _user, readmitted = await accounts.rotate(sessions, "cw_revoked")
    assert (await _status(client, readmitted))[0] == 200
    assert (await _status(client, revoked))[0] == 401


async def test_a_token_expires_after_90_days_unless_told_otherwise(
    any_db_assistant: Assistant,
) -> None:
    before = datetime.now(UTC)
    user, _token = await accounts.add_user(any_db_assistant.sessions, "a", "caseworker", None)
    assert timedelta(days=90) <= utc(user.expires_at) - before < timedelta(days=90, minutes=1)
    user, _token = await accounts.add_user(any_db_assistant.sessions, "b", "admin", None, 7)
    assert utc(user.expires_at) - before < timedelta(days=7, minutes=1)
    for days in (0, -1, accounts.MAX_TOKEN_DAYS + 1):
        with pytest.raises(accounts.AccountError):
            await accounts.add_user(any_db_assistant.sessions, "c", "admin", None, days)


def test_user_commands_as_an_administrator_runs_them(tmp_path: Path, model_cache: Path) -> None:
    env = {
        "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ZHAOREN_CACHE_DIR": str(model_cache),
    }
    added = zhaoren(["user", "add", "李顾问", "--role", "caseworker", "--district", "长宁区"], env)
    assert "caseworker '李顾问' for 长宁区" in added.stdout
    expires = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"expires {expires}" in added.stdout
    token = added.stdout.strip().splitlines()[-1]
    short = zhaoren(["user", "add", "王主任", "--role", "supervisor", "--days", "7"], env)
    assert (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d") in short.stdout

    listing = zhaoren(["user", "list"], env).stdout
    assert token not in listing
    lines = listing.strip().splitlines()
    assert lines[0].split() == ["name", "role", "district", "created", "expires", "revoked"]
    li = next(line for line in lines if line.startswith("李顾问"))
    assert "caseworker" in li and "长宁区" in li and expires in li and li.rstrip().endswith("-")

    assert "revoked" in zhaoren(["user", "revoke", "李顾问"], env).stdout
    li = next(
        line for line in zhaoren(["user", "list"], env).stdout.splitlines() if "李顾问" in line
    )
    assert not li.rstrip().endswith("-"), "the revoked column shows when"

    rotated = zhaoren(["user", "rotate", "李顾问"], env).stdout
    new_token = rotated.strip().splitlines()[-1]
    assert len(new_token) >= 32 and new_token != token
    assert "old one no longer works" in rotated

    missing = zhaoren(["user", "revoke", "nobody"], env, ok=False)
    assert "no account named 'nobody'" in missing.stderr


async def test_migration_gives_existing_accounts_90_days(tmp_path: Path) -> None:
    """Upgrading must not lock out the accounts made before tokens expired."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to, "0001")
            await connection.execute(
                text(
                    "INSERT INTO users (name, role, district, token_hash, created_at) "
                    "VALUES ('old', 'caseworker', NULL, :hash, :now)"
                ),
                {"hash": accounts.hash_token("old-token"), "now": datetime(2025, 1, 1)},
            )
        await migrate(engine)
        async with engine.connect() as connection:
            row = (
                await connection.execute(text("SELECT expires_at, revoked_at FROM users"))
            ).one()
    finally:
        await engine.dispose()
    expires_at = datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC)
    assert expires_at - datetime.now(UTC) > timedelta(days=89)
    assert row[1] is None


def _upgrade_to(connection: object, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
