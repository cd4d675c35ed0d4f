"""The guided self-report as a flow: fill slots in any order, confirm, ask consent, post.

The flow executes commands (``dialogues/commands.py``); it never decides what a message
means. Its questions, examples, buttons and texts are data (``flows/intake.yml``).
"""

from __future__ import annotations

from typing import Any

from dialogues.commands import Command
from dialogues.content import Slot, fill
from dialogues.drafting import SEEN_NEEDS, LeadDrafter
from dialogues.reading import merge_household
from dialogues.schema import ConversationState, IntakeState, Reply
from dialogues.services import Services
from dialogues.turn import Turn, outside_place_name, place_name
from nlu.privacy import redact

MAX_FAILURES = 2
RESUME_AFTER_SECONDS = 6 * 3600


def _merge_needs(
    first: list[dict[str, str]] | None, second: list[dict[str, str]] | None
) -> list[dict[str, str]]:
    """Needs of both lists, one per category, the first list's wording winning."""
    merged = list(first or [])
    known = {n["category"] for n in merged}
    merged += [n for n in second or [] if n["category"] not in known]
    return merged


_KEPT_ONCE_ANSWERED = frozenset({"income", "assistance", "urgency", "phone", "place"})


def _partial(name: str, value: Any) -> bool:
    """A household named in passing ("老伴住院了") still needs its size asked."""
    return name == "household" and isinstance(value, dict) and not value.get("stated")


class IntakeFlow:
    """Runs the self-report for the engine."""

    def __init__(self, services: Services):
        """Keep the services and the flow's content."""
        self.services = services
        self.flow = services.content.flow
        self.drafter = LeadDrafter(
            services.content, services.kb, services.rules, lambda: services.clock()
        )

    # -- starting ------------------------------------------------------------------------

    def start(self, state: ConversationState, turn: Turn, slots: list[Command]) -> list[Reply]:
        """Begin a report with whatever the conversation already said, then ask what is missing."""
        if state.intake is not None:
            return [Reply(self.flow.texts["already_registering"]), *self.next(state)]
        state.intake = self._new_intake()
        intake = state.intake
        noted = state.noted
        state.noted = {}
        for name, value in noted.items():
            intake.slots[name] = value
        if "place" not in intake.slots and state.district:
            # Where they live was said earlier in the conversation: not asked again.
            intake.slots["place"] = {"district": state.district, "street": state.street or ""}
        if slots:
            self._apply(state, turn, slots, starting=True)
        intro = self.services.flow_text("intro", state)
        return [intro, *self._outside_notice(state), *self.next(state)]

    def _new_intake(self) -> IntakeState:
        now = self.services.clock()  # the services' clock, so that tests can move time
        return IntakeState(id=self.services.new_id(), started_at=now, updated_at=now)

    def touch(self, state: ConversationState) -> list[Reply]:
        """Note the time of a message; welcome back a resident after a long break."""
        intake = state.intake
        assert intake is not None
        now = self.services.clock()
        replies = []
        if now - intake.updated_at > RESUME_AFTER_SECONDS:
            replies.append(Reply(self.flow.texts["resumed_after_break"]))
        intake.updated_at = now
        return replies

    # -- navigation ----------------------------------------------------------------------

    def cancel(self, state: ConversationState) -> list[Reply]:
        """Stop the report; nothing said in it is kept."""
        reply = self.services.flow_text("cancelled", state)
        forget_report(state)
        return [reply]

    def restart(self, state: ConversationState) -> list[Reply]:
        """Start over from the first question."""
        state.intake = self._new_intake()
        return [Reply(self.flow.texts["restarted"]), *self.next(state)]

    def back(self, state: ConversationState) -> list[Reply]:
        """Undo the last answer and ask its question again."""
        intake = state.intake
        assert intake is not None
        if intake.history:
            intake.restore(intake.history.pop())
        return [Reply(self.flow.texts["back"]), *self.next(state, force_ask=True)]

    def skip(self, state: ConversationState) -> list[Reply]:
        """Record the question asked as unknown ("不知道", "跳过") and go on."""
        intake = state.intake
        assert intake is not None
        self._checkpoint(intake)
        if intake.asked and intake.asked not in intake.unknown:
            intake.unknown.append(intake.asked)
        return [Reply(self.flow.texts["unknown_recorded"]), *self.next(state)]

    # -- filling slots -------------------------------------------------------------------

    def fill(self, state: ConversationState, turn: Turn, slots: list[Command]) -> list[Reply]:
        """Apply answers and corrections, say so, and ask the next question."""
        intake = state.intake
        assert intake is not None
        asked_before = intake.asked
        changed = self._apply(state, turn, slots)
        corrected = any(c.kind == "correct_slot" for c in slots) or intake.stage == "fix"
        replies: list[Reply] = []
        if corrected:
            # "已改过来" only when something actually changed.
            replies.append(Reply(self.flow.texts["corrected" if changed else "noted"]))
        elif asked_before is not None and asked_before not in intake.slots:
            # Something else was answered: say it was kept, then ask again what is missing.
            replies.append(Reply(self.flow.texts["noted"]))
        if intake.stage == "fix":
            intake.stage = "collect"
        return replies + self._outside_notice(state) + self.next(state)

    def absorb(self, state: ConversationState, turn: Turn, slots: list[Command]) -> None:
        """Keep what a message says about the household, without asking the next question."""
        if state.intake is not None and slots:
            self._apply(state, turn, slots)

    def _apply(
        self, state: ConversationState, turn: Turn, slots: list[Command], starting: bool = False
    ) -> bool:
        """Write slot values; True when anything changed."""
        intake = state.intake
        assert intake is not None
        self._checkpoint(intake)
        before = repr(intake.slots)
        for command in slots:
            name = command.slot
            if name is None:
                continue
            replace = command.kind == "correct_slot"
            value: Any = command.value
            if (
                name in _KEPT_ONCE_ANSWERED
                and name in intake.answered
                and not replace
                and intake.asked != name
            ):
                # Said in answer to its own question, a slot changes only when corrected:
                # "还有受灾的补助" in the needs answer is not an answer about assistance.
                continue
            if intake.asked == name and name not in intake.answered:
                intake.answered.append(name)
            if name == "name":
                intake.slots["name"] = value
                continue
            if name == "household":
                value = merge_household(intake.slots.get("household"), value, replace=replace)
            elif name == "needs" and not replace:
                if not (intake.asked == "needs" or "needs" in intake.slots):
                    # A need told in passing or in the first message is kept, and the needs
                    # question is still asked: people name their most pressing need there.
                    intake.slots[SEEN_NEEDS] = _merge_needs(intake.slots.get(SEEN_NEEDS), value)
                    continue
                value = _merge_needs(
                    value, intake.slots.get("needs") or intake.slots.get(SEEN_NEEDS)
                )
            elif name == "place" and turn.region_id is not None:
                state.region_id = turn.region_id
            intake.slots[name] = value
            if name in intake.unknown:
                intake.unknown.remove(name)
            intake.failures.pop(name, None)
        intake.texts = [*intake.texts[-9:], redact(turn.text)[:200]]
        return repr(intake.slots) != before

    def _checkpoint(self, intake: IntakeState) -> None:
        intake.history = [*intake.history[-19:], intake.snapshot()]

    def not_understood(self, state: ConversationState) -> list[Reply]:
        """An answer that could not be read: ask again, then explain with the example."""
        intake = state.intake
        assert intake is not None
        slot = self._current_slot(intake)
        if slot is None:
            return self.next(state)
        intake.failures[slot.name] = intake.failures.get(slot.name, 0) + 1
        if not slot.required:
            intake.unknown.append(slot.name)
            return [Reply(self.flow.texts["unknown_recorded"]), *self.next(state)]
        if intake.failures[slot.name] >= MAX_FAILURES:
            values = self.services.vars(state)
            text = fill(slot.example, values) + "\n" + self.flow.texts["skip_offer"]
            return [Reply(text, self.flow.buttons["skip_buttons"])]
        return [self._question(state, slot, again=True)]

    # -- asking --------------------------------------------------------------------------

    def _missing(self, intake: IntakeState) -> list[Slot]:
        return [
            s
            for s in self.flow.slots
            if (s.name not in intake.slots or _partial(s.name, intake.slots[s.name]))
            and s.name not in intake.unknown
        ]

    def _current_slot(self, intake: IntakeState) -> Slot | None:
        if intake.asked is None:
            return None
        return next((s for s in self.flow.slots if s.name == intake.asked), None)

    def _question(self, state: ConversationState, slot: Slot, again: bool = False) -> Reply:
        intake = state.intake
        assert intake is not None
        left = len(self._missing(intake)) or 1
        text = fill(slot.question, self.services.vars(state))
        if slot.kind == "phone" and self._outside_place(state):
            # Nobody of ours will call there: the number is for the resident's own record.
            text = self.services.content.labels["phone_question_outside"]
        if again:
            text = self.services.content.labels["not_understood"] + text
        text += fill(self.flow.texts["progress"], {"left": left})
        return Reply(text, slot.buttons)

    def current_question(self, state: ConversationState) -> Reply:
        """The question the resident is being asked now (after an interruption)."""
        replies = self.next(state, force_ask=True)
        return replies[-1] if replies else Reply(self.flow.texts["resume"])

    def next(self, state: ConversationState, force_ask: bool = False) -> list[Reply]:
        """Ask the first missing question, or show the summary, or ask the pending consent."""
        intake = state.intake
        assert intake is not None
        if intake.stage in {"consent_caseworker", "consent_charity"}:
            return [self._consent_question(state, intake.stage)]
        missing = self._missing(intake)
        if missing:
            intake.stage = "collect"
            intake.asked = missing[0].name
            return [self._question(state, missing[0])]
        intake.asked = None
        intake.stage = "confirm"
        summary = self.drafter.summary_lines(state)
        text = fill(self.flow.texts["confirm"], {"summary": "\n".join(summary)})
        return [Reply(text, self.flow.buttons["confirm_buttons"])]

    def _consent_question(self, state: ConversationState, stage: str) -> Reply:
        text = fill(self.flow.texts[stage], self.services.vars(state))
        place = self._outside_place(state)
        if stage == "consent_caseworker" and place:
            labels = self.services.content.labels
            text = fill(
                labels["consent_caseworker_outside"], {**self.services.vars(state), "place": place}
            )
        return Reply(text, self.flow.buttons[f"{stage}_buttons"])

    def _outside_place(self, state: ConversationState) -> str:
        """The report's place in words when it lies outside the regions we serve, else ""."""
        intake = state.intake
        place = intake.slots.get("place") if intake is not None else None
        return outside_place_name(place, state.region_id)

    def _outside_notice(self, state: ConversationState) -> list[Reply]:
        """Once per report: no caseworker of ours where the resident lives."""
        intake = state.intake
        place = self._outside_place(state)
        if intake is None or not place or intake.told_outside:
            return []
        intake.told_outside = True
        labels = self.services.content.labels
        values = {**self.services.vars(state), "place": place}
        return [Reply(fill(labels["outside_region_notice"], values))]

    # -- confirming and consent ----------------------------------------------------------

    def stale(self, state: ConversationState) -> list[Reply]:
        """A button of another step pressed (a double tap): it answers nothing."""
        return [Reply(self.flow.texts["stale_button"]), *self.next(state)]

    async def answer(self, state: ConversationState, command: Command) -> list[Reply]:
        """Yes or no to the summary or to a consent question."""
        intake = state.intake
        assert intake is not None
        step = (
            command.value
            if command.value in {"confirm", "consent_caseworker", "consent_charity"}
            else None
        )
        stage = "confirm" if intake.stage == "fix" else intake.stage
        if step is not None and step != stage:
            return self.stale(state)
        yes = command.kind == "affirm"
        if stage == "confirm":
            if yes:
                intake.stage = "consent_caseworker"
                return [self._consent_question(state, "consent_caseworker")]
            intake.stage = "fix"
            return [Reply(self.flow.texts["fix_prompt"])]
        if stage == "consent_caseworker":
            if not yes:
                reply = self.services.flow_text("declined", state)
                forget_report(state)
                return [reply]
            intake.stage = "consent_charity"
            return [self._consent_question(state, "consent_charity")]
        if stage == "consent_charity":
            return await self._post(state, charity=yes)
        return self.next(state)

    async def _post(self, state: ConversationState, charity: bool) -> list[Reply]:
        intake = state.intake
        assert intake is not None
        draft = self.drafter.build_draft(
            state, intake, consent={"caseworker": True, "charity": charity}
        )
        posted = await self.services.leads.post(draft)
        state.intake = None
        state.last_lead_id = posted.lead_id
        state.last_posted_at = self.services.clock()
        values = self.services.vars(state)
        if not posted.created:
            return [Reply(fill(self.flow.texts["merged"], {**values, "lead_id": posted.lead_id}))]
        line = self.services.content.labels["candidate_line"]
        lines = [
            fill(
                line,
                {
                    "name": self.services.kb.policies[c].name,
                    "reason": draft.reasons["candidates"][c],
                },
            )
            for c in draft.candidate_policies
        ]
        due = self.services.content.labels.get("due", {}).get(draft.priority, "")
        values = {**values, "lead_id": posted.lead_id, "due": due, "candidates": "\n".join(lines)}
        place = intake.slots.get("place") or {}
        named = place.get("district") or place.get("city") or place.get("province")
        if named and state.region_id is None:
            # Outside the regions zhaoren serves there is no caseworker of ours to call.
            values["place"] = place_name(place)
            labels = self.services.content.labels
            return [Reply(fill(labels["outside_region_posted"], values))]
        return [Reply(fill(self.flow.texts["posted"], values))]


def forget_report(state: ConversationState) -> None:
    """Keep nothing of a report the resident withdrew: they are told it is not saved.

    Besides the report itself this drops where they live, their phone, the topic of the talk
    and the replies kept for redelivered messages (which echo what they said). A crisis and
    an earlier posted lead's reference stay: they are not part of the withdrawn report.
    """
    state.intake = None
    state.noted = {}
    state.phone = None
    state.region_id = state.district = state.street = None
    state.policy = state.aspect = None
    state.pending = None
    state.replies_by_message = {message_id: [] for message_id in state.replies_by_message}
