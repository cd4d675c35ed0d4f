"""The channel-agnostic conversation engine.

``Engine.handle(channel, sender, text)`` is the one entry point every channel calls. A turn
is read once (``turn.py``), understood as commands in the context of the conversation
(``understand.py``), and executed by the flows (``intake.py``, ``answers.py``,
``crisis.py``). The engine owns conversation state (through a ``StateStore``) and never
imports a channel or a database driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dialogues.answers import AnswerFlow
from dialogues.commands import Command
from dialogues.content import Content
from dialogues.crisis import CrisisFlow
from dialogues.intake import IntakeFlow
from dialogues.ports import ConversationLocks, LeadSink, StateStore
from dialogues.reading import merge_household
from dialogues.schema import Button, ConversationState, Reply
from dialogues.services import Services
from dialogues.turn import MAX_MESSAGE_CHARS, NluReader, RemoteParser, Turn, TurnReader, place_name
from dialogues.understand import Understanding, load_policy
from knowledge.base import KnowledgeBase
from knowledge.rules import LeadRules
from nlu.normalize import storable
from nlu.places import PlaceFinder

logger = logging.getLogger(__name__)

STATE_CACHE_SIZE = 10_000
MESSAGE_IDS_KEPT = 10
INTAKE_EXPIRY_SECONDS = 7 * 24 * 3600


class Engine:
    """Turns one resident message into replies, remembering the conversation."""

    def __init__(
        self,
        nlu: NluReader,
        kb: KnowledgeBase,
        rules: LeadRules,
        content: Content,
        store: StateStore,
        leads: LeadSink,
        clock: Callable[[], float] = time.time,
        places: PlaceFinder | None = None,
        remote: RemoteParser | None = None,
        locks: ConversationLocks | None = None,
    ):
        """Wire the engine to its knowledge, content and ports.

        ``remote``: a running Rasa server's ``/model/parse`` reads each message instead of
        the built-in NLU (which still reads numbers, places and button payloads).

        ``locks``: the conversation lock shared by every server process on the same store.
        With it, each turn reads the state from the store after the lock is held (another
        process may have moved the conversation on). Without it this process is the only
        one using the store (SQLite), and recent states are also kept in process.
        """
        self.nlu = nlu
        self.remote = remote
        self.store = store
        self.services = Services(content, kb, rules, leads, clock)
        self.reader = TurnReader(nlu, kb, rules, content, places)
        self.understanding = Understanding(load_policy(), content.flow)
        self.intake = IntakeFlow(self.services)
        self.answers = AnswerFlow(self.services)
        self.crisis = CrisisFlow(self.services)
        # Weak: a lock lives exactly as long as a message holds or awaits it. It is taken
        # before the shared one, so one process never queues twice for the same conversation.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._shared_locks = locks
        # The in-process copy of recent states: only when no other process shares the store.
        self._states: OrderedDict[str, ConversationState] | None = (
            OrderedDict() if locks is None else None
        )

    @property
    def clock(self) -> Callable[[], float]:
        """The engine's clock (tests move it)."""
        return self.services.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.services.clock = clock

    # -- entry point -------------------------------------------------------------------

    async def handle(
        self, channel: str, sender: str, text: str, message_id: str | None = None
    ) -> list[Reply]:
        """Answer one message. Messages of one conversation are handled one at a time."""
        key = f"{channel}:{sender}"
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        shared = self._shared_locks.hold(key) if self._shared_locks else contextlib.nullcontext()
        async with lock, shared:
            # State is loaded only after the lock is held, so two messages of the same
            # conversation can never both start from the same old state.
            state = await self._load(key, channel, sender)
            message_id = message_id[:100] if message_id else None
            if message_id is not None and message_id in state.replies_by_message:
                return [_reply_from_dict(r) for r in state.replies_by_message[message_id]]
            try:
                replies = await self._respond(state, text)
            except BaseException:
                # The in-memory copy may be half-changed: the stored state is the truth.
                self._forget(key)
                raise
            if message_id is not None:
                # A redelivered message gets the replies it got the first time.
                kept = list(state.replies_by_message.items())[-(MESSAGE_IDS_KEPT - 1) :]
                state.replies_by_message = dict(kept)
                state.replies_by_message[message_id] = [_reply_to_dict(r) for r in replies]
            try:
                # Still under the lock: the next turn, in any process, reads this state.
                await self.store.save(key, state.to_dict())
            except BaseException:
                self._forget(key)
                raise
        return replies

    def mentions_danger(self, text: str) -> bool:
        """Whether a message speaks of danger to life: channels must never drop one."""
        text = storable(text)[:MAX_MESSAGE_CHARS]
        payload = self.reader.payload(text)
        if payload is not None:
            return payload.intent.name == "crisis"
        turn = self.reader.read(text, ConversationState(key="", channel="", sender=""))
        return turn.danger is not None or turn.intent == "crisis"

    async def _load(self, key: str, channel: str, sender: str) -> ConversationState:
        """The conversation's state: the stored one, or the in-process copy when kept.

        Every message is written through to the store, so a restart loses nothing. The
        in-process copy only saves the read, and is kept only when no other process can
        change the conversation (no shared lock: a single SQLite process).
        """
        states = self._states
        if states is not None:
            state = states.get(key)
            if state is not None:
                states.move_to_end(key)
                return state
        raw = await self.store.load(key)
        state = (
            ConversationState.from_dict(raw)
            if raw
            else ConversationState(key=key, channel=channel, sender=sender)
        )
        if states is not None:
            states[key] = state
            if len(states) > STATE_CACHE_SIZE:
                states.popitem(last=False)
        return state

    def _forget(self, key: str) -> None:
        if self._states is not None:
            self._states.pop(key, None)

    async def _respond(self, state: ConversationState, text: str) -> list[Reply]:
        # Any channel may hand over NUL or lone surrogates; neither may reach storage.
        text = storable(text)
        if not text or not text.strip():
            return [self.services.say("utter_empty", state)]
        replies: list[Reply] = []
        now = self.services.clock()
        if state.intake is not None:
            if now - state.intake.updated_at > INTAKE_EXPIRY_SECONDS:
                state.intake = None
                replies.append(self.services.flow_text("expired", state))
            else:
                replies += self.intake.touch(state)
        parsed = None
        if self.remote is not None and self.reader.payload(text) is None:
            parsed = await self.remote.parse(text[:MAX_MESSAGE_CHARS])
        turn = self.reader.read(text, state, parsed)
        if turn.truncated:
            replies.append(self.services.say("utter_too_long", state))
        commands = self.understanding.understand(state, turn, now)
        return replies + await self.execute(state, turn, commands)

    # -- executing commands --------------------------------------------------------------

    async def execute(
        self, state: ConversationState, turn: Turn, commands: list[Command]
    ) -> list[Reply]:
        """Carry out the commands, in order, through the flows; return what to say."""
        self._remember_place(state, turn)
        slots = [c for c in commands if c.kind in {"set_slot", "correct_slot"}]
        replies: list[Reply] = []
        slots_done = False
        in_report = state.intake is not None
        for command in commands:
            kind = command.kind
            if kind == "crisis":
                if state.intake is not None:
                    self.intake.absorb(state, turn, slots)
                else:
                    self._note(state, slots)
                slots_done = True
                replies += await self.crisis.handle(state, turn, command)
                if state.intake is not None and len(commands) == len(slots) + 1:
                    replies.append(self.intake.current_question(state))
                    return replies
            elif kind == "start_report":
                slots_done = True
                replies += self.intake.start(state, turn, slots)
            elif kind in {"set_slot", "correct_slot"}:
                if slots_done:
                    continue
                slots_done = True
                if state.intake is not None:
                    replies += self.intake.fill(state, turn, slots)
                else:
                    replies += self._noted(state, turn, slots)
            else:
                replies += await self._one(state, turn, command, in_report)
        return replies

    async def _one(
        self, state: ConversationState, turn: Turn, command: Command, in_report: bool
    ) -> list[Reply]:
        kind = command.kind
        intake = self.intake
        services = self.services
        if kind == "cancel":
            return (
                intake.cancel(state) if state.intake else [services.say("utter_no_report", state)]
            )
        if kind == "restart":
            return intake.restart(state)
        if kind == "back":
            return intake.back(state)
        if kind == "skip":
            return intake.skip(state)
        if kind in {"affirm", "deny"}:
            if command.value == "crisis_check":
                return self.crisis.cleared(state) + self._resume(state)
            if state.intake is not None:
                return await intake.answer(state, command)
            return [services.say("utter_greet", state)]
        if kind == "answer_policy":
            answer = self.answers.answer(state, command)
            if in_report and state.intake is not None:
                return [
                    *answer,
                    Reply(services.content.flow.texts["resume"]),
                    intake.current_question(state),
                ]
            return answer
        if kind == "check_status":
            status = await self.answers.check_status(state)
            if state.intake is not None:
                return [*status, Reply(services.content.flow.texts["resume"]), *intake.next(state)]
            return status
        if kind == "clarify":
            return self._clarify(state, str(command.value))
        simple = {
            "handoff": "utter_ask_human",
            "offer_help": "utter_offer_help",
            "complaint": "utter_complaint",
            "out_of_scope": "utter_dont_know"
            if command.value == "dont_know"
            else "utter_out_of_scope",
        }
        if kind == "small_talk":
            reply = services.say(
                _SMALL_TALK_RESPONSES.get(str(command.value), "utter_greet"), state
            )
        else:
            reply = services.say(simple[kind], state)
        if state.intake is not None:
            return [reply, *intake.next(state)]
        if kind == "small_talk" and command.value == "ok":
            state.pending = None
        return [reply]

    def _clarify(self, state: ConversationState, what: str) -> list[Reply]:
        services = self.services
        texts = services.content.flow.texts
        if what == "not_understood":
            return self.intake.not_understood(state)
        if what == "stale_button":
            if state.intake is not None:
                return self.intake.stale(state)
            if state.last_lead_id and self._recently_posted(state):
                return [services.flow_text("already_posted", state, lead_id=state.last_lead_id)]
            return [Reply(texts["stale_button"])]
        if what == "already_posted":
            if self._recently_posted(state):
                return [services.flow_text("already_posted", state, lead_id=state.last_lead_id)]
            return [services.say("utter_greet", state)]
        if what in {"consent_again", "confirm_again"}:
            return self.intake.next(state)
        if what == "which_policy":
            return self.answers.which_policy(state)
        if what == "offer_report":
            state.pending = "offer_intake"
            return [services.say("utter_fallback_report", state)]
        if what == "no_report":
            return [services.say("utter_no_report", state)]
        return [services.say("utter_out_of_scope", state)]

    def _resume(self, state: ConversationState) -> list[Reply]:
        return [self.intake.current_question(state)] if state.intake is not None else []

    def _note(self, state: ConversationState, slots: list[Command]) -> None:
        """Outside a report, keep what the resident said for when a report starts."""
        for command in slots:
            if command.slot is None:
                continue
            value = command.value
            if command.slot == "household":
                value = merge_household(
                    state.noted.get("household"), value, replace=command.kind == "correct_slot"
                )
            state.noted[command.slot] = value

    def _noted(self, state: ConversationState, turn: Turn, slots: list[Command]) -> list[Reply]:
        self._note(state, slots)
        if turn.place is not None and state.region_id is None and turn.region_id is None:
            # A place outside the regions we know: say honestly what we can do there.
            values = {**self.services.vars(state), "place": place_name(turn.place)}
            return [self.services.say("utter_place_outside", state, values)]
        if turn.place is not None:
            values = {**self.services.vars(state), "place": place_name(turn.place)}
            return [self.services.say("utter_place_noted", state, values)]
        return [self.services.say("utter_noted_outside", state)]

    def _remember_place(self, state: ConversationState, turn: Turn) -> None:
        place = turn.place
        if place is None:
            return
        if turn.region_id is not None:
            district = place.get("region_district") or place["district"]
            if district != state.district:
                state.street = None  # a street of the old district is not in the new one
            state.region_id = turn.region_id
            state.district = district
            state.street = place.get("street") or state.street
        else:
            state.region_id = None
            state.district = None
            state.street = None

    def _recently_posted(self, state: ConversationState) -> bool:
        return (
            state.last_posted_at is not None
            and self.services.clock() - state.last_posted_at < 3600
        )


_SMALL_TALK_RESPONSES = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thanks": "utter_thanks",
    "ok": "utter_ok",
    "vent": "utter_vent",
}


def _reply_to_dict(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "buttons": [[b.title, b.payload] for b in reply.buttons]}


def _reply_from_dict(data: dict[str, Any]) -> Reply:
    return Reply(str(data["text"]), tuple(Button(t, p) for t, p in data.get("buttons", [])))
