"""What the engine needs from the outside world. Storage implements these in ``bot/``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from dialogues.schema import LeadDraft, LeadStatus, PostedLead


class StateStore(Protocol):
    """Keeps conversation state between messages and across restarts."""

    async def load(self, key: str) -> dict[str, Any] | None:
        """The saved state, or ``None`` for a new conversation."""

    async def save(self, key: str, data: dict[str, Any]) -> None:
        """Replace the saved state."""


class ConversationLocks(Protocol):
    """Holds a conversation for one turn against every other server process.

    The engine still serialises a conversation's messages inside its own process first, so
    at most one turn per process waits here for a given conversation.
    """

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Held from before the state is loaded until after the new state is committed."""


class LeadSink(Protocol):
    """Receives finished reports."""

    async def post(self, draft: LeadDraft) -> PostedLead:
        """Create a lead, or merge into the open one with the same key or phone.

        Posting the same ``idempotency_key`` twice returns the first lead.
        """

    async def status(self, lead_id: str) -> LeadStatus | None:
        """The lead's status, for the resident who posted it."""
