"""Result types the NLU hands to the rest of the system."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Entity:
    """An entity found in a message; offsets index the message as received."""

    entity: str
    value: str | int
    start: int
    end: int
    extractor: str = "rules"

    def as_dict(self) -> dict[str, Any]:
        """Rasa's entity shape."""
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "extractor": self.extractor,
        }


@dataclass(frozen=True, slots=True)
class IntentScore:
    """One intent and the classifier's confidence in it."""

    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What the NLU understood of one message."""

    text: str
    intent: IntentScore
    entities: tuple[Entity, ...] = ()
    ranking: tuple[IntentScore, ...] = field(default=())
    fallback: bool = False

    def values(self, entity: str) -> list[str | int]:
        """All values of one entity type, in the order they appear."""
        return [e.value for e in self.entities if e.entity == entity]

    def first(self, entity: str) -> str | int | None:
        """The first value of one entity type, if any."""
        found = self.values(entity)
        return found[0] if found else None

    def as_dict(self) -> dict[str, Any]:
        """Rasa's ``/model/parse`` shape."""
        return {
            "text": self.text,
            "intent": {"name": self.intent.name, "confidence": round(self.intent.confidence, 4)},
            "entities": [e.as_dict() for e in self.entities],
            "intent_ranking": [
                {"name": s.name, "confidence": round(s.confidence, 4)} for s in self.ranking
            ],
        }
