"""What every flow needs from its surroundings: content, knowledge, rules, storage, the clock.

Flows and the engine share this one object instead of reaching into each other, so that no
module of ``dialogues/`` imports one that imports it back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dialogues.content import Content, fill
from dialogues.ports import LeadSink
from dialogues.schema import ConversationState, Reply
from knowledge.base import KnowledgeBase
from knowledge.rules import LeadRules
from knowledge.schema import Region


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Services:
    """Content, knowledge and ports, with the few helpers every flow uses."""

    content: Content
    kb: KnowledgeBase
    rules: LeadRules
    leads: LeadSink
    clock: Callable[[], float] = time.time
    new_id: Callable[[], str] = field(default=_new_id)

    def region(self, state: ConversationState) -> Region | None:
        """The resident's region, once known."""
        return self.kb.region_by_id(state.region_id)

    def vars(self, state: ConversationState) -> dict[str, Any]:
        """Values every template may use: office, hotline and the local helper's title."""
        region = self.region(state)
        values: dict[str, Any] = dict(self.content.defaults)
        if region is not None:
            office = region.office
            if region.street_office and state.street:
                office = fill(region.street_office, {"street": state.street})
            values.update(office=office, hotline=region.hotline, helper_title=region.helper_title)
        return values

    def say(
        self, name: str, state: ConversationState, values: dict[str, Any] | None = None
    ) -> Reply:
        """Render a response with the conversation's values."""
        return self.content.reply(name, values if values is not None else self.vars(state))

    def flow_text(self, key: str, state: ConversationState, **extra: Any) -> Reply:
        """A text of the intake flow, filled with the conversation's values."""
        return Reply(fill(self.content.flow.texts[key], {**self.vars(state), **extra}))
