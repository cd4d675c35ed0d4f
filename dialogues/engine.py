"""The channel-agnostic conversation engine.

``Engine.handle(channel, sender, text)`` is the one entry point every channel calls. It owns
conversation state (through a ``StateStore``), routes intents to answers, runs the intake
and posts leads (through a ``LeadSink``). It never imports a channel or a database driver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from dialogues.content import Content, fill
from dialogues.intake import IntakeRunner
from dialogues.ports import LeadSink, StateStore
from dialogues.schema import Button, ConversationState, Reply
from knowledge.base import KnowledgeBase
from knowledge.rules import Facts, LeadRules
from knowledge.schema import ASPECTS, Region
from nlu.normalize import normalize, storable
from nlu.pipeline import NluPipeline
from nlu.privacy import CHINA
from nlu.schema import Entity, IntentScore, ParseResult

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
STATE_CACHE_SIZE = 10_000
MESSAGE_IDS_KEPT = 10
INTAKE_EXPIRY_SECONDS = 7 * 24 * 3600
# The classifier alone (no lexicon match) must be this sure to post a crisis lead; between
# the two thresholds the resident gets the safety advice and is asked whether they are in
# danger now.
CRISIS_CONFIDENCE = 0.8
CRISIS_CHECK_CONFIDENCE = 0.5
# Residents who ask to register in so many words start the report directly.
_START_WORDS = re.compile(
    r"^(?:我|俺)?(?:要|想|想要|需要|帮我|能不能|可以)*(?:登记|报名登记|开始登记|求助登记|申请帮助|求助)"
    r"(?:一下)?(?:家里的?|我家的?|我的)?(?:困难|情况|难处)?(?:吗|吧)?$"
)
_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$", re.S)


class Engine:
    """Turns one resident message into replies, remembering the conversation."""

    def __init__(
        self,
        nlu: NluPipeline,
        kb: KnowledgeBase,
        rules: LeadRules,
        content: Content,
        store: StateStore,
        leads: LeadSink,
        clock: Callable[[], float] = time.time,
    ):
        """Wire the engine to its knowledge, content and ports."""
        self.nlu = nlu
        self.kb = kb
        self.rules = rules
        self.content = content
        self.store = store
        self.leads = leads
        self.clock = clock
        self.intake = IntakeRunner(self)
        # Weak: a lock lives exactly as long as a message holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._states: OrderedDict[str, ConversationState] = OrderedDict()

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
        async with lock:
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
                self._states.pop(key, None)
                raise
            if message_id is not None:
                # A redelivered message gets the replies it got the first time.
                kept = list(state.replies_by_message.items())[-(MESSAGE_IDS_KEPT - 1) :]
                state.replies_by_message = dict(kept)
                state.replies_by_message[message_id] = [_reply_to_dict(r) for r in replies]
            try:
                await self.store.save(key, state.to_dict())
            except BaseException:
                self._states.pop(key, None)
                raise
        return replies

    async def _load(self, key: str, channel: str, sender: str) -> ConversationState:
        """The conversation's state: the in-process copy, else the stored one.

        Every message is still written through to the store, so a restart loses nothing;
        the copy only saves the read. It assumes one server process per database; several
        processes must share state through the store (see the README).
        """
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return state
        raw = await self.store.load(key)
        state = (
            ConversationState.from_dict(raw)
            if raw
            else ConversationState(key=key, channel=channel, sender=sender)
        )
        self._states[key] = state
        if len(self._states) > STATE_CACHE_SIZE:
            self._states.popitem(last=False)
        return state

    def parse(self, text: str) -> ParseResult:
        """Parse a message or a button payload (``/intent{"entity": "value"}``)."""
        match = _PAYLOAD.match(text.strip())
        if match:
            entities: list[Entity] = []
            if match.group("entities"):
                try:
                    values = json.loads(match.group("entities"))
                except json.JSONDecodeError:
                    values = {}
                if isinstance(values, dict):
                    entities = [
                        Entity(k, str(v), 0, 0, "payload")
                        for k, v in values.items()
                        if self._valid_payload_entity(k, v)
                    ]
            score = IntentScore(match.group("intent"), 1.0)
            return ParseResult(text, score, tuple(entities), (score,))
        return self.nlu.parse(text)

    def _valid_payload_entity(self, name: object, value: object) -> bool:
        """Buttons may only carry what the assistant itself puts on buttons."""
        if name == "policy":
            return isinstance(value, str) and value in self.kb.policies
        if name == "aspect":
            return value in ASPECTS
        if name == "step":
            return value in {"confirm", "consent_caseworker", "consent_charity"}
        return False

    async def _respond(self, state: ConversationState, text: str) -> list[Reply]:
        replies: list[Reply] = []
        # Any channel may hand over NUL or lone surrogates; neither may reach storage.
        text = storable(text)
        if not text or not text.strip():
            return [self.say("utter_empty", state)]
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
            replies.append(self.say("utter_too_long", state))
        parse = self.parse(text)
        self._remember_place(state, parse)
        crisis = self._crisis_kind(parse)
        if crisis == "check" and self.intake.expects_this(state, parse):
            crisis = None  # "我再想想" at a consent question is an answer, not an alarm
        if crisis == "check":
            return replies + self._crisis_check(state)
        if crisis is not None:
            return replies + await self._crisis(state, parse, crisis)
        if state.pending == "crisis_check":
            state.pending = None
            if parse.intent.name == "affirm":
                return replies + await self._crisis(state, parse, "default")
            if parse.intent.name == "deny":
                replies.append(Reply(self.content.safety["check_cleared"]))
                if state.intake is not None:
                    replies.append(self.intake.current_question(state))
                return replies
        if state.crisis_lead_id and self._adds_contact(state, parse):
            # Whatever the resident says after a crisis (phone, where they are) completes
            # the crisis lead at once, wherever the conversation is.
            replies += await self._crisis_update(state, parse)
            if state.intake is None and not parse.intent.name.startswith("ask"):
                return replies
        if state.intake is not None:
            if self.clock() - state.intake.updated_at > INTAKE_EXPIRY_SECONDS:
                state.intake = None
                replies.append(Reply(fill(self.content.flow.texts["expired"], self.vars(state))))
            else:
                return replies + await self.intake.handle(state, parse)
        return replies + await self._route(state, parse)

    # -- routing outside the intake ------------------------------------------------------

    async def _route(self, state: ConversationState, parse: ParseResult) -> list[Reply]:
        intent = parse.intent.name
        plain = re.sub(r"[\s,。.!!??]+", "", normalize(parse.text))
        wants_report = bool(_START_WORDS.match(plain))
        if (
            intent == "start_intake"
            or wants_report
            or (intent == "affirm" and state.pending == "offer_intake")
        ):
            state.pending = None
            return await self.intake.start(state, parse, prefill=False)
        if parse.first("step") is not None:
            # A confirm/consent button pressed again after the report was posted.
            if state.last_lead_id and self._recently_posted(state):
                values = {**self.vars(state), "lead_id": state.last_lead_id}
                return [Reply(fill(self.content.flow.texts["already_posted"], values))]
            return [Reply(self.content.flow.texts["stale_button"])]
        if intent == "affirm" and state.last_lead_id and self._recently_posted(state):
            values = {**self.vars(state), "lead_id": state.last_lead_id}
            text = fill(self.content.flow.texts["already_posted"], values)
            return [Reply(text)]
        if intent == "deny" and state.pending == "offer_intake":
            state.pending = None
            return [self.say("utter_ok", state)]
        if self.intake.is_navigation(parse.text):
            # 取消 / 重新开始 / 返回上一步 with no report under way.
            return [self.say("utter_no_report", state)]
        question = _is_question(parse.text)
        household = self.intake.describes_household(parse)
        if not question and household:
            # A long description of the household is a report, even if it names a policy.
            return await self.intake.start(state, parse, prefill=True)
        waiting_for_policy = state.pending == "which_policy"
        state.pending = None
        if self._is_policy_question(state, parse) or (
            waiting_for_policy and parse.first("policy") is not None
        ):
            return self.answer_policy(state, parse, remembered_aspect=waiting_for_policy)
        follow_up = self._follow_up_aspect(state, parse, plain)
        if follow_up is not None:
            aspect = Entity("aspect", follow_up, 0, 0, "context")
            return self.answer_policy(state, replace(parse, entities=(*parse.entities, aspect)))
        needs = self.rules.needs_in(normalize(parse.text))
        if needs and question and intent in {"report_need", "ask_policy", "out_of_scope"}:
            # "孩子上大学学费交不起有什么救助?" is a question: answer it with the policies
            # that may fit, and offer the report instead of starting it unasked.
            return [self._suggest_policies(state, needs)]
        if intent == "report_need" or household:
            return await self.intake.start(state, parse, prefill=True)
        if intent == "check_status":
            return await self.check_status(state)
        simple = {
            "greet": "utter_greet",
            "goodbye": "utter_goodbye",
            "thanks": "utter_thanks",
            "ask_human": "utter_ask_human",
            "offer_help": "utter_offer_help",
            "complaint": "utter_complaint",
        }
        if intent in simple:
            return [self.say(simple[intent], state)]
        if intent == "ask_policy" and parse.text.startswith("/"):
            state.pending = "which_policy"
            return [self.say("utter_ask_which_policy", state)]
        if intent == "ask_policy" or (intent == "out_of_scope" and question):
            return [self.say("utter_dont_know", state)]
        if needs and intent not in {"affirm", "deny"}:
            state.pending = "offer_intake"
            return [self.say("utter_fallback_report", state)]
        if state.district and (parse.first("district") or parse.first("street")):
            return [
                self.say("utter_place_noted", state, {**self.vars(state), "place": _place(state)})
            ]
        if parse.fallback:
            return [self.say("utter_dont_know", state)]
        if intent in {"affirm", "deny", "inform"}:
            return [self.say("utter_greet", state)]
        return [self.say("utter_out_of_scope", state)]

    def _follow_up_aspect(
        self, state: ConversationState, parse: ParseResult, plain: str
    ) -> str | None:
        """The aspect of a short follow-up ("申请条件呢", "那能得到什么帮助?") in context."""
        if state.policy is None or parse.first("policy") is not None or len(plain) > 12:
            return None
        if parse.intent.name in {"report_need", "crisis", "greet", "goodbye", "thanks"}:
            return None
        aspect = parse.first("aspect")
        if aspect is not None:
            return str(aspect)
        return self.nlu.guess("aspect", parse.text)

    def _suggest_policies(self, state: ConversationState, needs: list[str]) -> Reply:
        assessment = self.rules.assess(Facts(needs=frozenset(needs)))
        line = self.content.labels["candidate_line"]
        candidates = [c for c in assessment.candidates if c.policy in self.kb.policies]
        lines = [
            fill(line, {"name": self.kb.policies[c.policy].name, "reason": c.reason})
            for c in candidates
        ]
        buttons = tuple(
            Button(self.kb.policies[c.policy].name, _policy_payload(c.policy))
            for c in candidates[:4]
        )
        reply = self.say(
            "utter_suggest_policies", state, {**self.vars(state), "lines": "\n".join(lines)}
        )
        state.pending = "offer_intake"
        return Reply(reply.text, buttons + reply.buttons)

    def _is_policy_question(self, state: ConversationState, parse: ParseResult) -> bool:
        has_policy = parse.first("policy") is not None
        has_aspect = parse.first("aspect") is not None
        if parse.intent.name == "ask_policy":
            return has_policy or has_aspect
        if parse.intent.name in {"greet", "thanks"} and has_policy:
            return True  # "您好,我想申请低保,请问条件是什么"
        if parse.intent.name in {"report_need", "crisis", "check_status", "ask_human"}:
            return False
        # A low-confidence guess that still names a policy, or a bare follow-up aspect,
        # is a policy question in context ("那要带什么材料?").
        return (parse.fallback or parse.intent.name == "inform") and (
            has_policy or (has_aspect and state.policy is not None)
        )

    def answer_policy(
        self, state: ConversationState, parse: ParseResult, remembered_aspect: bool = False
    ) -> list[Reply]:
        """Answer a policy question, using the conversation's context for what is missing.

        ``remembered_aspect``: the resident asked about an aspect before naming the policy
        ("复核多久一次" → "哪一项?" → "低保"), so that aspect is answered now.
        """
        policy_id = parse.first("policy")
        aspect = parse.first("aspect")
        if policy_id is not None:
            state.policy = str(policy_id)
            if aspect is None and remembered_aspect:
                aspect = state.aspect
        elif state.policy is None:
            state.aspect = str(aspect) if aspect else None
            state.pending = "which_policy"
            return [self.say("utter_ask_which_policy", state)]
        state.pending = None
        aspect_name = str(aspect) if aspect in ASPECTS else "overview"
        state.aspect = aspect_name
        policy = self.kb.policy(state.policy or "")
        if policy is None:
            return [self.say("utter_dont_know", state)]
        values = {
            **self.vars(state),
            "policy_name": policy.name,
            "aspect_name": self.content.label("aspect", aspect_name),
        }
        answer = self.kb.answer(policy.id, aspect_name, self.region(state))
        if answer is None:
            reply = self.content.reply("utter_aspect_unknown", values)
        else:
            source = fill(self.content.labels["source"], {"references": answer.references()})
            values.update(answer=fill(answer.text, values), source=source)
            reply = self.content.reply("utter_answer", values)
        more = [
            Button(self.content.label("aspect", a), _policy_payload(policy.id, a))
            for a in ASPECTS
            if a != aspect_name and self.kb.answer(policy.id, a, self.region(state))
        ][:4]
        return [Reply(reply.text, reply.buttons + tuple(more))]

    async def check_status(self, state: ConversationState) -> list[Reply]:
        """Tell the resident where their last lead stands."""
        lead_id = state.last_lead_id or state.crisis_lead_id
        status = await self.leads.status(lead_id) if lead_id else None
        if status is None:
            return [self.say("utter_check_status_none", state)]
        values = self.vars(state)
        created = datetime.fromtimestamp(status.created_at, CHINA)
        values.update(
            lead_id=status.lead_id,
            created=fill(
                self.content.labels["date"],
                {"month": created.month, "day": created.day},
            ),
            status_text=fill(self.content.label("status", status.status), values),
            next_step=self.content.labels.get("next_step", {}).get(status.priority, "")
            if status.status in {"new", "claimed"}
            else "",
        )
        return [self.say("utter_check_status", state, values)]

    # -- crisis --------------------------------------------------------------------------

    def _crisis_kind(self, parse: ParseResult) -> str | None:
        """The kind of danger, ``"check"`` when only the classifier suspects one, or None."""
        if parse.text.startswith("/"):
            return "default" if parse.intent.name == "crisis" else None
        norm = normalize(parse.text)
        for kind in self.content.crisis_kinds:
            if kind.matches(norm):
                return kind.name
        if parse.intent.name == "crisis":
            if parse.intent.confidence >= CRISIS_CONFIDENCE:
                return "default"
            if parse.intent.confidence >= CRISIS_CHECK_CONFIDENCE:
                return "check"
        return None

    def _crisis_check(self, state: ConversationState) -> list[Reply]:
        state.pending = "crisis_check"
        safety = self.content.safety
        return [
            Reply(safety["default_text"]),
            Reply(safety["check_question"], self.content.crisis_check_buttons),
        ]

    async def _crisis(
        self, state: ConversationState, parse: ParseResult, kind: str
    ) -> list[Reply]:
        crisis = self.content.crisis_kind(kind)
        replies = [Reply(crisis.text)]
        phone = parse.first("phone")
        if phone is not None:
            state.phone = str(phone)
        if state.intake is not None and not parse.text.startswith("/"):
            self.intake.absorb(state, parse)  # a household answer in the same message counts
        posted = await self.intake.post_crisis(state, parse, crisis)
        state.crisis_lead_id = posted.lead_id
        values = {**self.vars(state), "lead_id": posted.lead_id}
        replies.append(Reply(fill(self.content.safety["lead_notice"], values)))
        if state.phone is None:
            replies.append(Reply(self.content.safety["ask_phone"]))
        if state.intake is not None:
            replies.append(self.intake.current_question(state))
        return replies

    def _adds_contact(self, state: ConversationState, parse: ParseResult) -> bool:
        phone = parse.first("phone")
        new_phone = phone is not None and str(phone) != state.phone
        return (
            new_phone or parse.first("district") is not None or parse.first("street") is not None
        )

    async def _crisis_update(self, state: ConversationState, parse: ParseResult) -> list[Reply]:
        phone = parse.first("phone")
        if phone is not None:
            state.phone = str(phone)
        posted = await self.intake.post_crisis(state, parse, None)
        values = {**self.vars(state), "lead_id": posted.lead_id}
        return [Reply(fill(self.content.safety["updated"], values))]

    # -- helpers used by the intake -------------------------------------------------------

    def _remember_place(self, state: ConversationState, parse: ParseResult) -> None:
        district = parse.first("district")
        street = parse.first("street")
        place = self.kb.place(str(district) if district else None, str(street) if street else None)
        if place is not None:
            if place.district != state.district:
                state.street = None  # a street of the old district is not in the new one
            state.region_id = place.region.id
            state.district = place.district
            state.street = place.street or state.street

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

    def _recently_posted(self, state: ConversationState) -> bool:
        return state.last_posted_at is not None and self.clock() - state.last_posted_at < 3600

    @staticmethod
    def new_id() -> str:
        """A fresh random identifier."""
        return uuid.uuid4().hex


def _policy_payload(policy_id: str, aspect: str | None = None) -> str:
    entities = {"policy": policy_id} if aspect is None else {"policy": policy_id, "aspect": aspect}
    return "/ask_policy" + json.dumps(entities, ensure_ascii=False)


def _place(state: ConversationState) -> str:
    return f"{state.district or ''}{state.street or ''}"


def _is_question(text: str) -> bool:
    return bool(re.search(r"[??吗呢]|怎么|什么|哪里|哪儿|多少|能不能|可不可以|如何", text))


def _reply_to_dict(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "buttons": [[b.title, b.payload] for b in reply.buttons]}


def _reply_from_dict(data: dict[str, Any]) -> Reply:
    return Reply(str(data["text"]), tuple(Button(t, p) for t, p in data.get("buttons", [])))
