"""Danger to life first: advice at once, a priority-1 lead, and follow-ups that stay with it.

PIPL art. 13 allows processing the information needed to protect life without consent; the
resident is told so. Only a lexicon word (``safety.yml``) is sure enough to post unasked:
the classifier alone gets the advice and the question "您现在有危险吗?".
"""

from __future__ import annotations

from dialogues.commands import Command
from dialogues.content import CrisisKind, fill
from dialogues.drafting import LeadDrafter
from dialogues.schema import ConversationState, IntakeState, PostedLead, Reply
from dialogues.services import Services
from dialogues.turn import Turn, outside_place_name
from nlu.privacy import redact

MAX_CRISIS_TEXTS = 10


class CrisisFlow:
    """Executes ``crisis`` commands."""

    def __init__(self, services: Services):
        """Keep the services and a drafter for crisis leads."""
        self.services = services
        self.drafter = LeadDrafter(
            services.content, services.kb, services.rules, lambda: services.clock()
        )

    async def handle(self, state: ConversationState, turn: Turn, command: Command) -> list[Reply]:
        """Advice, the lead, and what the resident is told about it."""
        if command.certainty == "suspected":
            return self.check(state)
        if command.certainty == "follow_up":
            return await self.follow_up(state, turn)
        return await self.raise_alarm(
            state, turn, self.services.content.crisis_kind(command.danger or "default")
        )

    def check(self, state: ConversationState) -> list[Reply]:
        """Advice, then "are you in danger now?" before anything is posted."""
        state.pending = "crisis_check"
        safety = self.services.content.safety
        return [
            Reply(safety["default_text"]),
            Reply(safety["check_question"], self.services.content.crisis_check_buttons),
        ]

    def cleared(self, state: ConversationState) -> list[Reply]:
        """The resident said they are not in danger."""
        state.pending = None
        return [Reply(self.services.content.safety["check_cleared"])]

    async def raise_alarm(
        self, state: ConversationState, turn: Turn, kind: CrisisKind
    ) -> list[Reply]:
        """Advice for this kind of danger and a priority-1 lead at once."""
        state.pending = None
        replies = [Reply(kind.text)]
        if kind.name != "default" or state.crisis_kind is None:
            state.crisis_kind = kind.name
        phone = turn.first("phone")
        if phone is not None:
            state.phone = str(phone)
        posted = await self.post(state, turn)
        first = state.crisis_lead_id is None or state.crisis_lead_id != posted.lead_id
        state.crisis_lead_id = posted.lead_id
        state.crisis_at = self.services.clock()
        values = {**self.services.vars(state), "lead_id": posted.lead_id}
        safety = self.services.content.safety
        place = state.noted.get("place") or (
            state.intake.slots.get("place") if state.intake is not None else None
        )
        outside = outside_place_name(place, state.region_id)
        if first and outside:
            # Outside the regions we serve nobody of ours can come: say so, and who can.
            labels = self.services.content.labels
            values["place"] = outside
            replies.append(Reply(fill(labels["crisis_notice_outside"], values)))
        else:
            replies.append(Reply(fill(safety["lead_notice" if first else "updated"], values)))
        if state.phone is None:
            replies.append(Reply(safety["ask_phone"]))
        return replies

    async def follow_up(self, state: ConversationState, turn: Turn) -> list[Reply]:
        """A message after a crisis: added to the crisis lead, with the advice repeated briefly."""
        phone = turn.first("phone")
        if phone is not None:
            state.phone = str(phone)
        posted = await self.post(state, turn)
        state.crisis_lead_id = posted.lead_id
        state.crisis_at = self.services.clock()
        values = {**self.services.vars(state), "lead_id": posted.lead_id}
        replies = [Reply(fill(self.services.content.safety["updated"], values))]
        if state.phone is None and state.intake is None:
            replies.append(Reply(self.services.content.safety["ask_phone"]))
        return replies

    async def post(self, state: ConversationState, turn: Turn) -> PostedLead:
        """Post (or complete) the conversation's crisis lead with everything known so far."""
        texts = [*state.crisis_texts[-(MAX_CRISIS_TEXTS - 1) :], redact(turn.text)[:200]]
        state.crisis_texts = texts
        intake = state.intake or IntakeState(id="crisis", slots=dict(state.noted))
        if state.intake is None:
            intake.texts = list(texts)
        else:
            intake.texts = [*intake.texts[-9:], redact(turn.text)[:200]]
        draft = self.drafter.build_draft(
            state, intake, consent={"caseworker": False, "charity": False}, crisis=True
        )
        if state.crisis_kind is not None:
            kind = self.services.content.crisis_kind(state.crisis_kind)
            detail = redact(texts[0].strip())[:80]
            draft.needs = [{"category": kind.need, "detail": detail}, *draft.needs]
            draft.summary = f"【{kind.label}】{draft.summary}"
            draft.reasons["crisis"] = kind.label
        if len(texts) > 1:
            label = self.services.content.labels["crisis_follow_ups"]
            draft.summary += f"\n{label}" + " / ".join(texts[1:])
        draft.idempotency_key = f"crisis:{state.key}"
        return await self.services.leads.post(draft)
