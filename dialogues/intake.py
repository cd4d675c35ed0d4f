"""The guided self-report: fill slots in any order, confirm, ask consent, post a lead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dialogues.content import CrisisKind, Slot, fill
from dialogues.drafting import SEEN_NEEDS, LeadDrafter
from dialogues.reading import Reading, read_message
from dialogues.schema import ConversationState, IntakeState, PostedLead, Reply
from nlu.normalize import normalize
from nlu.privacy import redact
from nlu.schema import ParseResult

if TYPE_CHECKING:
    from dialogues.engine import Engine

_CANCEL = re.compile(r"^(?:取消|不登记了|不弄了|不填了|算了不登记了|取消登记)$")
_RESTART = re.compile(r"^(?:重新开始|重来|从头开始|重新登记)$")
_BACK = re.compile(r"^(?:返回上一步|上一步|返回|退回上一步|回到上一步)$")
_UNKNOWN = re.compile(r"^(?:不知道|不清楚|不方便说|不想说|跳过|不好说|说不清|不记得了?|不晓得)$")
_CORRECTION = re.compile(r"^(?:不对|不是|错了|说错了|改一下|更正)")
_PUNCT = re.compile(r"[\s,。.!!??~、;;::\"'“”]+")
MAX_FAILURES = 2
# Stages where any message is an answer to the report's own question.
_ANSWER_STAGES = frozenset({"confirm", "fix", "consent_caseworker", "consent_charity"})


def _merge_needs(
    first: list[dict[str, str]] | None, second: list[dict[str, str]] | None
) -> list[dict[str, str]]:
    """Needs of both lists, one per category, the first list's wording winning."""
    merged = list(first or [])
    known = {n["category"] for n in merged}
    merged += [n for n in second or [] if n["category"] not in known]
    return merged


def _command(text: str) -> str:
    return _PUNCT.sub("", normalize(text))


class IntakeRunner:
    """Runs the intake flow for the engine."""

    def __init__(self, engine: Engine):
        """Keep a reference to the engine for content, rules and ports."""
        self.engine = engine
        self.flow = engine.content.flow
        self.drafter = LeadDrafter(engine.content, engine.kb, engine.rules, engine.clock)

    # -- starting and resuming -------------------------------------------------------------

    async def start(
        self, state: ConversationState, parse: ParseResult, prefill: bool
    ) -> list[Reply]:
        """Begin a report, keeping whatever the first message already said."""
        state.intake = self._new_intake()
        if state.district:
            # Where they live was said earlier in the conversation: not asked again.
            state.intake.slots["place"] = {
                "district": state.district,
                "street": state.street or "",
            }
        replies = [Reply(fill(self.flow.texts["intro"], self.engine.vars(state)))]
        if prefill:
            self._apply(state, parse, starting=True)
        return [*replies, *self._next(state)]

    def _new_intake(self) -> IntakeState:
        now = self.engine.clock()  # the engine's clock, so that tests can move time
        return IntakeState(id=self.engine.new_id(), started_at=now, updated_at=now)

    @staticmethod
    def is_navigation(text: str) -> bool:
        """取消 / 重新开始 / 返回上一步 and their variants."""
        command = _command(text)
        return any(p.match(command) for p in (_CANCEL, _RESTART, _BACK))

    def describes_household(self, parse: ParseResult) -> bool:
        """True when a message outside the intake already answers two of its questions."""
        reading = read_message(parse, self.engine.rules, None, {})
        return len(reading.values) >= 2

    async def handle(self, state: ConversationState, parse: ParseResult) -> list[Reply]:
        """One message while a report is in progress."""
        intake = state.intake
        assert intake is not None
        now = self.engine.clock()
        replies: list[Reply] = []
        if now - intake.updated_at > 6 * 3600:
            replies.append(Reply(self.flow.texts["resumed_after_break"]))
        intake.updated_at = now
        command = _command(parse.text)
        if _CANCEL.match(command) or parse.intent.name == "cancel":
            state.intake = None
            return [Reply(fill(self.flow.texts["cancelled"], self.engine.vars(state)))]
        if _RESTART.match(command):
            state.intake = self._new_intake()
            return [Reply(self.flow.texts["restarted"]), *self._next(state)]
        if _BACK.match(command):
            if intake.history:
                intake.restore(intake.history.pop())
            return [Reply(self.flow.texts["back"]), *self._next(state, force_ask=True)]
        if parse.intent.name in {"report_need", "start_intake"} and parse.text.startswith("/"):
            # The "register" button pressed again while registering.
            return [Reply(self.flow.texts["already_registering"]), *self._next(state)]
        # Read once: what this message says about the household decides everything below.
        reading = read_message(parse, self.engine.rules, intake.asked, intake.slots)
        answers_question = intake.asked in reading.values
        answers = answers_question or intake.stage in _ANSWER_STAGES
        if parse.intent.name == "ask_human" and parse.intent.confidence >= 0.8 and not answers:
            return [*replies, self.engine.say("utter_ask_human", state), *self._next(state)]
        if parse.intent.name == "check_status" and parse.intent.confidence >= 0.6 and not answers:
            status = await self.engine.check_status(state)
            return [*replies, *status, Reply(self.flow.texts["resume"]), *self._next(state)]
        if intake.stage == "confirm" or (intake.stage == "fix" and parse.first("step")):
            return replies + await self._confirm(state, parse, command)
        if intake.stage in {"consent_caseworker", "consent_charity"}:
            return replies + await self._consent(state, parse)
        if intake.asked and _UNKNOWN.match(command):
            self._checkpoint(intake)
            if intake.asked not in intake.unknown:
                intake.unknown.append(intake.asked)
            return [*replies, Reply(self.flow.texts["unknown_recorded"]), *self._next(state)]
        if not answers_question and self._is_side_question(state, parse):
            answer = self.engine.answer_policy(state, parse)
            resume = Reply(self.flow.texts["resume"])
            return [*replies, *answer, resume, *self._next(state, force_ask=True)]
        asked_before = intake.asked
        filled = self._apply(state, parse, reading=reading)
        if not filled:
            return replies + self._failed(state)
        if _CORRECTION.match(command) or intake.stage == "fix":
            replies.append(Reply(self.flow.texts["corrected"]))
        elif asked_before is not None and asked_before not in intake.slots:
            # Something else was answered: say it was kept, then ask again what is missing.
            replies.append(Reply(self.flow.texts["noted"]))
        return replies + self._next(state)

    def _is_side_question(self, state: ConversationState, parse: ParseResult) -> bool:
        if parse.intent.name != "ask_policy" or parse.intent.confidence < 0.5:
            return False
        return parse.first("aspect") is not None or bool(
            parse.first("policy") and re.search(r"[吗呢?？]|什么|怎么|多少|哪", parse.text)
        )

    # -- filling slots ---------------------------------------------------------------------

    def _apply(
        self,
        state: ConversationState,
        parse: ParseResult,
        starting: bool = False,
        reading: Reading | None = None,
    ) -> bool:
        intake = state.intake
        assert intake is not None
        if reading is None:
            reading = read_message(parse, self.engine.rules, intake.asked, intake.slots)
        if not reading:
            return False
        self._checkpoint(intake)
        for name, value in reading.values.items():
            if name == "needs":
                if not (starting or intake.asked == "needs" or "needs" in intake.slots):
                    # A need mentioned in passing ("我失业了" while describing the household)
                    # is kept, but the needs question is still asked.
                    intake.slots[SEEN_NEEDS] = _merge_needs(intake.slots.get(SEEN_NEEDS), value)
                    continue
                value = _merge_needs(
                    value, intake.slots.get("needs") or intake.slots.get(SEEN_NEEDS)
                )
            intake.slots[name] = value
            if name in intake.unknown:
                intake.unknown.remove(name)
            intake.failures.pop(name, None)
        if reading.name:
            intake.slots["name"] = reading.name
        place = reading.values.get("place")
        if place:
            resolved = self.engine.kb.place(place.get("district") or None, place.get("street"))
            if resolved is not None:
                place["district"] = resolved.district
        intake.texts = [*intake.texts[-9:], redact(parse.text[:200])]
        return True

    def _checkpoint(self, intake: IntakeState) -> None:
        intake.history = [*intake.history[-19:], intake.snapshot()]

    def _failed(self, state: ConversationState) -> list[Reply]:
        intake = state.intake
        assert intake is not None
        slot = self._current_slot(intake)
        if slot is None:
            return self._next(state)
        intake.failures[slot.name] = intake.failures.get(slot.name, 0) + 1
        if not slot.required:
            intake.unknown.append(slot.name)
            return [Reply(self.flow.texts["unknown_recorded"]), *self._next(state)]
        if intake.failures[slot.name] >= MAX_FAILURES:
            values = self.engine.vars(state)
            text = fill(slot.example, values) + "\n" + self.flow.texts["skip_offer"]
            return [Reply(text, self.flow.buttons["skip_buttons"])]
        return [self._question(state, slot, again=True)]

    # -- asking ------------------------------------------------------------------------------

    def _missing(self, intake: IntakeState) -> list[Slot]:
        return [
            s
            for s in self.flow.slots
            if s.name not in intake.slots and s.name not in intake.unknown
        ]

    def _current_slot(self, intake: IntakeState) -> Slot | None:
        if intake.asked is None:
            return None
        return next((s for s in self.flow.slots if s.name == intake.asked), None)

    def _question(self, state: ConversationState, slot: Slot, again: bool = False) -> Reply:
        intake = state.intake
        assert intake is not None
        left = len(self._missing(intake)) or 1
        text = fill(slot.question, self.engine.vars(state))
        if again:
            text = self.engine.content.labels["not_understood"] + text
        text += fill(self.flow.texts["progress"], {"left": left})
        return Reply(text, slot.buttons)

    def current_question(self, state: ConversationState) -> Reply:
        """The question the resident is being asked now (after an interruption)."""
        replies = self._next(state, force_ask=True)
        return replies[-1] if replies else Reply(self.flow.texts["resume"])

    def _next(self, state: ConversationState, force_ask: bool = False) -> list[Reply]:
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
        text = fill(self.flow.texts[stage], self.engine.vars(state))
        return Reply(text, self.flow.buttons[f"{stage}_buttons"])

    def _answer(self, intake: IntakeState, parse: ParseResult) -> str | None:
        """Affirm / deny / None for the confirm and consent questions.

        A button remembers which question it belongs to: pressed again later (a double
        tap), it answers nothing.
        """
        step = parse.first("step")
        if step is not None:
            if str(step) != intake.stage and not (step == "confirm" and intake.stage == "fix"):
                return "stale"
            return parse.intent.name if parse.intent.name in {"affirm", "deny"} else None
        if parse.text.startswith("/"):
            return parse.intent.name if parse.intent.name in {"affirm", "deny"} else None
        typed = self.flow.yes_or_no(normalize(parse.text))
        if typed is not None:
            return typed
        return parse.intent.name if parse.intent.name in {"affirm", "deny"} else None

    # -- confirming and consent ------------------------------------------------------------

    async def _confirm(
        self, state: ConversationState, parse: ParseResult, command: str
    ) -> list[Reply]:
        intake = state.intake
        assert intake is not None
        answer = self._answer(intake, parse)
        if answer == "stale":
            return [Reply(self.flow.texts["stale_button"]), *self._next(state)]
        if answer == "affirm":
            intake.stage = "consent_caseworker"
            return [self._consent_question(state, "consent_caseworker")]
        if self._apply(state, parse):
            return [Reply(self.flow.texts["corrected"]), *self._next(state)]
        if answer == "deny" or _CORRECTION.match(command):
            intake.stage = "fix"
            return [Reply(self.flow.texts["fix_prompt"])]
        return self._next(state)

    async def _consent(self, state: ConversationState, parse: ParseResult) -> list[Reply]:
        intake = state.intake
        assert intake is not None
        answer = self._answer(intake, parse)
        if answer == "stale":
            return [
                Reply(self.flow.texts["stale_button"]),
                self._consent_question(state, intake.stage),
            ]
        if answer not in {"affirm", "deny"}:
            return [self._consent_question(state, intake.stage)]
        if intake.stage == "consent_caseworker":
            if answer == "deny":
                state.intake = None
                state.phone = None
                return [Reply(fill(self.flow.texts["declined"], self.engine.vars(state)))]
            intake.stage = "consent_charity"
            return [self._consent_question(state, "consent_charity")]
        return await self._post(state, charity=answer == "affirm")

    async def _post(self, state: ConversationState, charity: bool) -> list[Reply]:
        intake = state.intake
        assert intake is not None
        draft = self.drafter.build_draft(
            state, intake, consent={"caseworker": True, "charity": charity}
        )
        posted = await self.engine.leads.post(draft)
        state.intake = None
        state.last_lead_id = posted.lead_id
        state.last_posted_at = self.engine.clock()
        values = self.engine.vars(state)
        if not posted.created:
            return [Reply(fill(self.flow.texts["merged"], {**values, "lead_id": posted.lead_id}))]
        line = self.engine.content.labels["candidate_line"]
        lines = [
            fill(
                line,
                {
                    "name": self.engine.kb.policies[c].name,
                    "reason": draft.reasons["candidates"][c],
                },
            )
            for c in draft.candidate_policies
        ]
        due = self.engine.content.labels.get("due", {}).get(draft.priority, "")
        text = fill(
            self.flow.texts["posted"],
            {**values, "lead_id": posted.lead_id, "due": due, "candidates": "\n".join(lines)},
        )
        return [Reply(text)]

    async def post_crisis(
        self, state: ConversationState, parse: ParseResult, crisis: CrisisKind | None
    ) -> PostedLead:
        """A priority-1 lead at once, with whatever is known (PIPL art. 13: protect life).

        ``crisis`` is None for later messages that only add a phone or a place.
        """
        intake = state.intake or IntakeState(id="crisis")
        if crisis is not None:
            intake.texts = [*intake.texts[-9:], redact(parse.text[:200])]
        draft = self.drafter.build_draft(
            state, intake, consent={"caseworker": False, "charity": False}, crisis=True
        )
        if crisis is not None:
            detail = redact(parse.text.strip())[:80]
            draft.needs = [{"category": crisis.need, "detail": detail}, *draft.needs]
            draft.summary = f"【{crisis.label}】{draft.summary}"
            draft.reasons["crisis"] = crisis.label
        draft.idempotency_key = f"crisis:{state.key}"
        return await self.engine.leads.post(draft)

    def absorb(self, state: ConversationState, parse: ParseResult) -> None:
        """Keep what a message says about the household, without asking the next question."""
        self._apply(state, parse)

    def expects_this(self, state: ConversationState, parse: ParseResult) -> bool:
        """True when the message is an answer the report is waiting for."""
        intake = state.intake
        if intake is None:
            return False
        if intake.stage in _ANSWER_STAGES:
            return True
        reading = read_message(parse, self.engine.rules, intake.asked, intake.slots)
        return intake.asked in reading.values
