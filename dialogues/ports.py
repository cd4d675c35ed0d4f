"""What the engine needs from the outside world. Storage implements these in ``bot/``."""

from __future__ import annotations

from typing import Any, Protocol

from dialogues.schema import LeadDraft, LeadStatus, PostedLead


class StateStore(Protocol):
    """Keeps conversation state between messages and across restarts."""

    async def load(self, key: str) -> dict[str, Any] | None:
        """The saved state, or ``None`` for a new conversation."""

    async def save(self, key: str, data: dict[str, Any]) -> None:
        """Replace the saved state."""


class LeadSink(Protocol):
    """Receives finished reports."""

    async def post(self, draft: LeadDraft) -> PostedLead:
        """Create a lead, or merge into the open one with the same key or phone.

        Posting the same ``idempotency_key`` twice returns the first lead.
        """

    async def status(self, lead_id: str) -> LeadStatus | None:
        """The lead's status, for the resident who posted it."""
