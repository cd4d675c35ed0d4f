"""Types the engine speaks: replies with buttons, conversation state, lead drafts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    """A quick answer: ``payload`` is sent back as the next message when pressed."""

    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the assistant."""

    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(slots=True)
class IntakeState:
    """A self-report in progress."""

    id: str
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    slots: dict[str, Any] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    asked: str | None = None
    failures: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stage: str = "collect"  # collect | confirm | fix | consent_caseworker | consent_charity
    texts: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)  # slots answered to their own question
    told_outside: bool = False  # told once that the place has no caseworker of ours

    def snapshot(self) -> dict[str, Any]:
        """What ``返回上一步`` restores."""
        return {
            "slots": {k: _copy(v) for k, v in self.slots.items()},
            "unknown": list(self.unknown),
            "asked": self.asked,
            "stage": self.stage,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Undo to a snapshot."""
        self.slots = snap["slots"]
        self.unknown = snap["unknown"]
        self.asked = snap["asked"]
        self.stage = snap["stage"]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@dataclass(slots=True)
class ConversationState:
    """Everything the engine remembers about one conversation, JSON-serialisable."""

    key: str
    channel: str
    sender: str
    policy: str | None = None
    aspect: str | None = None
    region_id: str | None = None
    district: str | None = None
    street: str | None = None
    phone: str | None = None
    intake: IntakeState | None = None
    last_lead_id: str | None = None
    last_posted_at: float | None = None
    crisis_lead_id: str | None = None
    crisis_at: float | None = None
    crisis_kind: str | None = None
    crisis_texts: list[str] = field(default_factory=list)
    # What the resident said before a report started, kept for when one starts.
    noted: dict[str, Any] = field(default_factory=dict)
    pending: str | None = None
    replies_by_message: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the store.

        Shallow on purpose: ``dataclasses.asdict`` deep-copies every list and dict, which
        cost more than the rest of a message's handling; the store serialises to JSON anyway.
        """
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.intake is not None:
            data["intake"] = {
                name: getattr(self.intake, name) for name in IntakeState.__dataclass_fields__
            }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        """Rebuild from the store; unknown keys from older versions are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        intake = known.get("intake")
        if isinstance(intake, dict):
            fields = IntakeState.__dataclass_fields__
            known["intake"] = IntakeState(**{k: v for k, v in intake.items() if k in fields})
        return cls(**known)


@dataclass(slots=True)
class LeadDraft:
    """A lead as the engine hands it to storage (contract §5 without id and timestamps)."""

    idempotency_key: str
    channel: str
    conversation_id: str
    priority: int
    due_hours: int
    region: dict[str, str | None]
    contact: dict[str, str | None]
    household: dict[str, Any]
    income_monthly: int | None
    current_assistance: list[str]
    needs: list[dict[str, str]]
    tier_3a: list[str]
    target_class: str
    candidate_policies: list[str]
    consent: dict[str, Any]
    summary: str
    reasons: dict[str, Any] = field(default_factory=dict)
    life_protection: bool = False


@dataclass(frozen=True, slots=True)
class PostedLead:
    """What storage answers when a draft is posted."""

    lead_id: str
    created: bool  # False when the draft was merged into an open lead
    due_at: float


@dataclass(frozen=True, slots=True)
class LeadStatus:
    """A lead's state as a resident may see it."""

    lead_id: str
    status: str
    created_at: float
    priority: int
