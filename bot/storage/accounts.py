"""Staff accounts and their API tokens: created, listed, revoked, rotated; they expire."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.common import Sessions, utc
from bot.storage.models import User

ROLES = ("caseworker", "supervisor", "hotline", "admin")
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650


class AccountError(Exception):
    """An account operation that cannot be done (unknown name, bad option)."""


class TokenRefused(Exception):
    """A bearer token that grants nothing; the message says why, for the client."""


def hash_token(token: str) -> str:
    """Tokens are stored hashed so that a database dump does not grant access."""
    return hashlib.sha256(token.encode()).hexdigest()


def _expiry(valid_days: int, now: datetime) -> datetime:
    if not 1 <= valid_days <= MAX_TOKEN_DAYS:
        raise AccountError(f"a token is valid for 1 to {MAX_TOKEN_DAYS} days")
    return now + timedelta(days=valid_days)


async def add_user(
    sessions: Sessions,
    name: str,
    role: str,
    district: str | None,
    valid_days: int = DEFAULT_TOKEN_DAYS,
) -> tuple[User, str]:
    """Create an account and return it with its (only ever shown once) token."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = datetime.now(UTC)
    expires_at = _expiry(valid_days, now)
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        user = User(
            name=name,
            role=role,
            district=district,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=expires_at,
        )
        session.add(user)
    return user, token


async def authenticate(sessions: Sessions, token: str) -> User:
    """The account a bearer token belongs to, read afresh on every request.

    Nothing is cached, so that a revoked, rotated or expired token stops working on the
    very next request.
    """
    async with sessions() as session:
        user = await session.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None:
        raise TokenRefused("invalid token")
    if user.revoked_at is not None:
        raise TokenRefused("this token has been revoked")
    if utc(user.expires_at) <= datetime.now(UTC):
        raise TokenRefused("this token has expired; ask an administrator for a new one")
    return user


async def list_users(sessions: Sessions) -> list[User]:
    """Every account, by name."""
    async with sessions() as session:
        return list((await session.scalars(select(User).order_by(User.name))).all())


async def _named(session: AsyncSession, name: str) -> User:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no account named {name!r}")
    return user


async def revoke(sessions: Sessions, name: str) -> User:
    """Stop the account's token from working (until the account is rotated)."""
    async with sessions() as session, session.begin():
        user = await _named(session, name)
        if user.revoked_at is None:
            user.revoked_at = datetime.now(UTC)
    return user


async def rotate(
    sessions: Sessions, name: str, valid_days: int = DEFAULT_TOKEN_DAYS
) -> tuple[User, str]:
    """Give the account a new token (the old one stops working) and a new expiry.

    A revoked account is active again afterwards: rotating is how an administrator
    re-admits someone, with a token only they are then given.
    """
    expires_at = _expiry(valid_days, datetime.now(UTC))
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        user = await _named(session, name)
        user.token_hash = hash_token(token)
        user.expires_at = expires_at
        user.revoked_at = None
    return user, token
