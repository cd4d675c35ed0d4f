"""Staff accounts and their API tokens."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from bot.storage.common import Sessions
from bot.storage.models import User

ROLES = ("caseworker", "supervisor", "hotline", "admin")


def hash_token(token: str) -> str:
    """Tokens are stored hashed so that a database dump does not grant access."""
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(
    sessions: Sessions, name: str, role: str, district: str | None
) -> tuple[User, str]:
    """Create an account and return it with its (only ever shown once) token."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        user = User(name=name, role=role, district=district, token_hash=hash_token(token))
        session.add(user)
    return user, token


async def user_by_token(sessions: Sessions, token: str) -> User | None:
    """The account a bearer token belongs to."""
    async with sessions() as session:
        return await session.scalar(select(User).where(User.token_hash == hash_token(token)))
