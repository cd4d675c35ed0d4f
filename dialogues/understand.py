"""Understanding: a turn, in the context of the conversation, becomes a list of commands.

This is the command generator of Rasa's CALM design, built on a classic NLU (intents and
entities) plus the context: the question just asked, the stage of the report, a recent
crisis, the policy just discussed. It decides *what the resident means*; the flows decide
what to do about it. It changes nothing: give it a state and a turn, and it returns commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dialogues.commands import KINDS, Command
from dialogues.content import Flow, compile_patterns
from dialogues.errors import FlowError
from dialogues.schema import ConversationState
from dialogues.turn import Turn

UNDERSTANDING_FILE = Path(__file__).parent / "understanding.yml"
_ANSWER_STAGES = frozenset({"confirm", "fix", "consent_caseworker", "consent_charity"})
_SMALL_TALK = {"greet": "greet", "goodbye": "goodbye", "thanks": "thanks"}


@dataclass(frozen=True, slots=True)
class Policy:
    """The understanding settings of ``understanding.yml``."""

    precedence: tuple[str, ...]
    overrides: dict[str, frozenset[str]]
    thresholds: dict[str, float]
    words: dict[str, tuple[re.Pattern[str], ...]]
    topics: tuple[tuple[str, re.Pattern[str]], ...] = ()
    benefit: re.Pattern[str] | None = None

    def topic_policy(self, text: str) -> str | None:
        """The policy a benefit question is about by its topic ("残疾人有啥补贴" → canji)."""
        if self.benefit is None or not self.benefit.search(text):
            return None
        return next((policy for policy, pattern in self.topics if pattern.search(text)), None)

    def matches(self, name: str, text: str) -> bool:
        """True when a word list matches ``text`` (whole lists: the whole of it)."""
        whole = name.endswith("_whole")
        return any(
            (p.fullmatch(text) if whole else p.search(text)) is not None for p in self.words[name]
        )

    def order(self, commands: list[Command]) -> list[Command]:
        """Apply overrides, then sort by precedence; duplicates are dropped."""
        present = {c.kind for c in commands}
        removed: set[str] = set()
        for kind in self.precedence:
            if kind in present and kind not in removed:
                removed |= self.overrides.get(kind, frozenset())
        kept: list[Command] = []
        for command in commands:
            if command.kind not in removed and command not in kept:
                kept.append(command)
        rank = {kind: index for index, kind in enumerate(self.precedence)}
        return sorted(kept, key=lambda c: rank[c.kind])


_WORD_LISTS = (
    "cancel_whole",
    "restart_whole",
    "back_whole",
    "skip_whole",
    "cancel_in_report",
    "restart_in_report",
    "back_in_report",
    "skip_start",
    "correction",
    "start",
    "start_statement",
    "start_whole",
    "question",
    "vent",
    "complaint_target",
    "plea",
    "plea_strong",
    "assistance_words",
    "safe_now",
    "eligibility_question",
    "joking",
    "reported",
    "resolved",
    "idioms",
)
_THRESHOLDS = (
    "crisis_suspected",
    "handoff_in_report",
    "check_status_in_report",
    "side_question",
    "crisis_follow_up_minutes",
    "place_only_chars",
    "follow_up_chars",
    "follow_up_question_chars",
    "navigation_chars",
)


def load_policy(path: Path = UNDERSTANDING_FILE) -> Policy:
    """Read and check ``understanding.yml``; errors name the file and key."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(document, dict):
        raise FlowError(f"{path}: the top level must be a mapping")
    precedence = tuple(str(k) for k in document.get("precedence") or [])
    if sorted(precedence) != sorted(KINDS):
        missing = sorted(set(KINDS) ^ set(precedence))
        raise FlowError(f"{path}: precedence: must list every command kind once ({missing})")
    overrides: dict[str, frozenset[str]] = {}
    for kind, removed in (document.get("overrides") or {}).items():
        unknown = sorted({kind, *removed} - set(KINDS))
        if unknown:
            raise FlowError(f"{path}: overrides.{kind}: unknown kind {unknown[0]!r}")
        overrides[str(kind)] = frozenset(str(r) for r in removed)
    thresholds = document.get("thresholds") or {}
    for key in _THRESHOLDS:
        if not isinstance(thresholds.get(key), int | float):
            raise FlowError(f"{path}: thresholds.{key}: missing or not a number")
    words: dict[str, tuple[re.Pattern[str], ...]] = {}
    for key in _WORD_LISTS:
        raw = (document.get("words") or {}).get(key)
        if not isinstance(raw, list) or not raw:
            raise FlowError(f"{path}: words.{key}: missing")
        words[key] = compile_patterns(path, f"words.{key}", raw)
    topics: list[tuple[str, re.Pattern[str]]] = []
    for policy, pattern in (document.get("policy_topics") or {}).items():
        try:
            topics.append((str(policy), re.compile(str(pattern))))
        except re.error as exc:
            raise FlowError(f"{path}: policy_topics.{policy}: {exc}") from exc
    try:
        benefit = re.compile(str(document.get("benefit_words") or "$^"))
    except re.error as exc:
        raise FlowError(f"{path}: benefit_words: {exc}") from exc
    return Policy(
        precedence,
        overrides,
        {k: float(thresholds[k]) for k in _THRESHOLDS},
        words,
        tuple(topics),
        benefit,
    )


class Understanding:
    """``understand(state, turn, now) -> list[Command]``, with its settings loaded once."""

    def __init__(self, policy: Policy, flow: Flow):
        """Keep the settings and the flow's yes/no words."""
        self.policy = policy
        self.flow = flow
        # Slots are set in the order the report asks them.
        self.slot_order = tuple(slot.name for slot in flow.slots)

    def understand(self, state: ConversationState, turn: Turn, now: float) -> list[Command]:
        """What the resident means by this message, in the order to act on it."""
        commands = self._crisis(state, turn, now)
        if state.intake is not None:
            commands += self._in_report(state, turn)
        else:
            commands += self._outside(state, turn, bool(commands))
        return self.policy.order(commands)

    # -- danger --------------------------------------------------------------------------

    def _crisis(self, state: ConversationState, turn: Turn, now: float) -> list[Command]:
        if turn.payload:
            if turn.intent == "crisis":
                return [Command("crisis", certainty="sure", danger="default")]
            return []
        recent = (
            state.crisis_lead_id is not None
            and state.crisis_at is not None
            and now - state.crisis_at < self.policy.thresholds["crisis_follow_up_minutes"] * 60
        )
        if recent and self.policy.matches("safe_now", turn.plain):
            return []  # "人找到了,虚惊一场": the danger is over (answered as a no below)
        if turn.danger is not None and not self._not_about_now(turn):
            return [Command("crisis", certainty="sure", danger=turn.danger)]
        if state.pending == "crisis_check" and self._yes_no(turn) == "affirm":
            return [Command("crisis", certainty="sure", danger="default")]
        adds_contact = turn.first("phone") is not None or turn.place is not None
        if state.crisis_lead_id is not None and adds_contact:
            return [Command("crisis", certainty="follow_up")]
        if recent and state.intake is None and not self._is_pleasantry(turn):
            if self._yes_no(turn) == "deny" and self.policy.matches("safe_now", turn.plain):
                return []  # "没有没有,我安全的": handled as a no below
            return [Command("crisis", certainty="follow_up")]
        suspected = (
            turn.intent == "crisis"
            and turn.confidence >= self.policy.thresholds["crisis_suspected"]
        )
        if suspected and (
            self._only_a_place(turn)
            or self._domain_question(turn)
            or self._not_about_now(turn)
            or self.policy.matches("idioms", turn.plain)
        ):
            return []  # "我在贵州毕节", "…像她那样的独居老人有啥补助": not a danger
        if suspected and not self._answers_report(state, turn) and not recent:
            return [Command("crisis", certainty="suspected", danger="default")]
        return []

    def _policy_of(self, turn: Turn) -> str | None:
        """The policy named, or the one a benefit question's topic points to."""
        named = _policy_named(turn)
        if named is not None:
            return named
        if not self.policy.matches("question", turn.norm):
            return None
        if turn.needs and not _said_aspect(turn, specific=True):
            # "学费交不起有什么救助?" gets the candidate policies, not one guessed by topic;
            # "住院能报销多少" asks something specific of one policy.
            return None
        return self.policy.topic_policy(turn.plain)

    def _not_about_now(self, turn: Turn) -> bool:
        """Danger words in a joke, a show or the news, or a danger that is over."""
        plain = turn.plain
        return any(self.policy.matches(name, plain) for name in ("joking", "reported", "resolved"))

    def _domain_question(self, turn: Turn) -> bool:
        """A question in the words of the assistance domain (补助, 低保, 申请 …)."""
        return self.policy.matches("question", turn.norm) and self.policy.matches(
            "assistance_words", turn.plain
        )

    def _only_a_place(self, turn: Turn) -> bool:
        """A short message that says where the resident is, and little else."""
        limit = self.policy.thresholds["place_only_chars"] + len(_place_text(turn))
        return (
            turn.place is not None
            and set(turn.reading.values) == {"place"}
            and len(turn.plain) <= limit
            and turn.first("policy") is None
        )

    def _is_pleasantry(self, turn: Turn) -> bool:
        return turn.intent in {"thanks", "goodbye", "greet"} and len(turn.plain) <= 8

    # -- inside a report -----------------------------------------------------------------

    def _in_report(self, state: ConversationState, turn: Turn) -> list[Command]:
        intake = state.intake
        assert intake is not None
        plain = turn.plain
        short = len(plain) <= self.policy.thresholds["navigation_chars"]
        if turn.intent == "cancel" or self.policy.matches("cancel_whole", plain):
            return [Command("cancel")]
        if self.policy.matches("restart_whole", plain) or (
            short and self.policy.matches("restart_in_report", plain)
        ):
            return [Command("restart")]
        if self.policy.matches("back_whole", plain) or (
            short and self.policy.matches("back_in_report", plain)
        ):
            return [Command("back")]
        if short and self.policy.matches("cancel_in_report", plain):
            return [Command("cancel")]
        if turn.payload and turn.intent in {"report_need", "start_intake"}:
            return [Command("start_report")]
        answers_question = intake.asked is not None and intake.asked in turn.reading.values
        answers = answers_question or intake.stage in _ANSWER_STAGES
        thresholds = self.policy.thresholds
        if (
            turn.intent == "ask_human"
            and not answers
            and turn.confidence >= thresholds["handoff_in_report"]
        ):
            return [Command("handoff")]
        if (
            turn.intent == "check_status"
            and not answers
            and turn.confidence >= thresholds["check_status_in_report"]
        ):
            return [Command("check_status")]
        if intake.stage == "confirm" or (intake.stage == "fix" and turn.first("step")):
            return self._at_confirm(state, turn)
        if intake.stage in {"consent_caseworker", "consent_charity"}:
            answer = self._yes_no(turn, step=True)
            if answer in {"affirm", "deny"}:
                return [Command(answer, value=turn.first("step"))]
            return [Command("clarify", value="consent_again")]
        if (
            intake.asked
            and not answers_question
            and (
                self.policy.matches("skip_whole", plain)
                or (short and self.policy.matches("skip_start", plain))
            )
        ):
            return [Command("skip", slot=intake.asked)]
        if not answers_question and self._is_side_question(turn):
            return [Command("answer_policy", policy=self._policy_of(turn), aspect=_aspect(turn))]
        slots = self._slot_commands(state, turn, correcting=intake.stage == "fix")
        if slots:
            return slots
        if turn.intent in _SMALL_TALK and len(plain) <= 6:
            return [Command("small_talk", value=_SMALL_TALK[turn.intent])]
        return [Command("clarify", value="not_understood")]

    def _at_confirm(self, state: ConversationState, turn: Turn) -> list[Command]:
        answer = self._yes_no(turn, step=True)
        if answer == "stale":
            return [Command("clarify", value="stale_button")]
        if turn.first("step") is None:
            # "对的,不过电话改成…": the change comes first, then the summary again.
            slots = self._slot_commands(state, turn, correcting=True)
            if slots:
                return slots
        if answer == "affirm":
            return [Command("affirm", value="confirm")]
        if answer == "deny" or self.policy.matches("correction", turn.norm):
            return [Command("deny", value="confirm")]
        return [Command("clarify", value="confirm_again")]

    def _slot_commands(
        self, state: ConversationState, turn: Turn, correcting: bool = False
    ) -> list[Command]:
        reading = turn.reading
        filled = state.intake.slots if state.intake is not None else state.noted
        correcting = correcting or self.policy.matches("correction", turn.norm)
        commands = []
        for name in self.slot_order:
            if name not in reading.values:
                continue
            kind = "correct_slot" if correcting and name in filled else "set_slot"
            commands.append(Command(kind, slot=name, value=reading.values[name]))
        if reading.name is not None:
            commands.append(Command("set_slot", slot="name", value=reading.name))
        return commands

    def _is_side_question(self, turn: Turn) -> bool:
        if (
            turn.intent != "ask_policy"
            or turn.confidence < self.policy.thresholds["side_question"]
        ):
            return False
        return turn.first("aspect") is not None or bool(
            turn.first("policy") and self.policy.matches("question", turn.norm)
        )

    def _answers_report(self, state: ConversationState, turn: Turn) -> bool:
        """A yes/no to the report's own question, or an answer to the slot asked."""
        intake = state.intake
        if intake is None:
            return False
        if intake.stage in _ANSWER_STAGES:
            return True
        return intake.asked is not None and intake.asked in turn.reading.values

    def _yes_no(self, turn: Turn, step: bool = False) -> str | None:
        """``affirm`` / ``deny`` / ``stale`` (a button of another step) / None."""
        if turn.payload:
            if step and turn.first("step") is not None:
                return None if turn.intent not in {"affirm", "deny"} else turn.intent
            return turn.intent if turn.intent in {"affirm", "deny"} else None
        typed = self.flow.yes_or_no(turn.norm)
        if typed is not None:
            return typed
        return turn.intent if turn.intent in {"affirm", "deny"} else None

    # -- outside a report ----------------------------------------------------------------

    def _outside(self, state: ConversationState, turn: Turn, in_crisis: bool) -> list[Command]:
        intent = turn.intent
        plain = turn.plain
        question = self.policy.matches("question", turn.norm)
        slots = self._slot_commands(state, turn)
        if turn.payload and turn.first("step") is not None:
            return [Command("clarify", value="stale_button")]
        if turn.payload and intent in {"report_need", "start_intake"}:
            return [Command("start_report")]
        wants_report = intent == "start_intake" or self.policy.matches("start_whole", plain)
        if not wants_report:
            # "想登记看看吧?" still asks to register: the words say so, question or not.
            wants_report = self.policy.matches("start", plain) or (
                not question and self.policy.matches("start_statement", plain)
            )
        if wants_report or (state.pending == "offer_intake" and self._yes_no(turn) == "affirm"):
            return [Command("start_report"), *slots]
        if in_crisis:
            # Whatever else a danger message says is kept for the crisis lead.
            return slots
        # A yes, or any yes/no button, after the report was posted is a double tap.
        double_tap = turn.payload and intent in {"affirm", "deny"}
        if (intent == "affirm" or double_tap) and state.last_lead_id:
            return [Command("clarify", value="already_posted")]
        if self._yes_no(turn) == "deny" and state.pending == "offer_intake":
            return [Command("small_talk", value="ok")]
        safe = state.crisis_lead_id is not None and self.policy.matches("safe_now", plain)
        if safe or (state.pending == "crisis_check" and self._yes_no(turn) == "deny"):
            return [Command("deny", value="crisis_check")]
        if any(
            self.policy.matches(name, plain)
            for name in ("cancel_whole", "restart_whole", "back_whole")
        ):
            return [Command("clarify", value="no_report")]
        if self._only_a_place(turn) and not question:
            return slots
        describes = len(turn.reading.values) >= 2
        household = turn.reading.values.get("household") or {}
        hardship = (
            bool(turn.needs)
            or describes
            or intent == "report_need"
            or turn.first("condition") is not None
            or any(m.get("conditions") for m in household.get("members") or [])
        )
        pleads = self.policy.matches("plea", plain)
        asks_aspect = _said_aspect(turn)
        told = bool(household.get("size")) and hardship and not question
        asks_about_policy = (question and turn.first("policy") is not None) or (
            # "残疾人两项补贴申请条件": a policy and what about it, without a question mark.
            intent == "ask_policy"
            and turn.confidence >= self.policy.thresholds["side_question"]
            and turn.first("policy") is not None
            and asks_aspect
        )
        if asks_about_policy and not self.policy.matches("plea_strong", plain):
            return [Command("answer_policy", policy=self._policy_of(turn), aspect=_aspect(turn))]
        if (
            (describes and not question)
            or (hardship and pleads and not asks_aspect and not asks_about_policy)
            or (hardship and self.policy.matches("plea_strong", plain) and not asks_aspect)
            or told
        ):
            # "…这日子咋过,求求你们帮帮忙" asks for help, not for information.
            return [Command("start_report"), *slots]
        waiting_for_policy = state.pending == "which_policy"
        if self._is_policy_question(state, turn) or (
            waiting_for_policy and turn.first("policy") is not None
        ):
            aspect = _aspect(turn)
            if waiting_for_policy and state.aspect and not _said_aspect(turn):
                aspect = state.aspect  # "复核多久一次" → "哪一项?" → "低保"
            # "多久能批下来" after a 低保 answer is about 低保.
            policy = self._policy_of(turn) or (state.policy if aspect else None)
            return [Command("answer_policy", policy=policy, aspect=aspect)]
        follow_up = self._follow_up(state, turn)
        if follow_up is not None:
            return [Command("answer_policy", policy=state.policy, aspect=follow_up)]
        if (
            question
            and self.policy.matches("assistance_words", plain)
            and (
                intent in {"greet", "thanks", "affirm", "deny", "inform", "out_of_scope"}
                or turn.parse.fallback
            )
        ):
            # "您好,请问残疾证咋办" or a question the classifier is unsure of, in our domain.
            return [Command("answer_policy", policy=self._policy_of(turn), aspect=_aspect(turn))]
        if turn.needs and question and intent in {"report_need", "ask_policy", "out_of_scope"}:
            # "孩子上大学学费交不起有什么救助?" is a question: answered with the policies
            # that may fit and an offer of the report, not a report started unasked.
            return [Command("answer_policy", value=turn.needs)]
        if intent == "report_need" or describes:
            return [Command("start_report"), *slots]
        if intent == "check_status":
            return [Command("check_status")]
        if self._domain_question(turn) and intent not in {"offer_help", "ask_human"}:
            # Whatever the classifier says, a question about 补助/低保/申请 gets an answer.
            return [Command("answer_policy", policy=self._policy_of(turn), aspect=_aspect(turn))]
        if intent in _SMALL_TALK:
            return [Command("small_talk", value=_SMALL_TALK[intent])]
        if intent == "ask_human":
            return [Command("handoff")]
        if intent == "offer_help":
            return [Command("offer_help")]
        if intent == "complaint":
            if self.policy.matches("vent", plain) and not self.policy.matches(
                "complaint_target", plain
            ):
                return [Command("small_talk", value="vent")]
            return [Command("complaint")]
        if intent == "ask_policy" and turn.payload:
            return [Command("clarify", value="which_policy")]
        if intent == "ask_policy" or (intent == "out_of_scope" and question):
            return [Command("answer_policy")]
        if turn.needs and intent not in {"affirm", "deny"}:
            return [Command("clarify", value="offer_report")]
        if self.policy.matches("vent", plain):
            return [Command("small_talk", value="vent")]
        if turn.place is not None:
            return slots
        if turn.parse.fallback:
            return [Command("out_of_scope", value="dont_know")]
        if intent in {"affirm", "deny", "inform"}:
            return [Command("small_talk", value="greet")]
        return [Command("out_of_scope")]

    def _is_policy_question(self, state: ConversationState, turn: Turn) -> bool:
        # A need in a question ("学费交不起有什么救助?") gets the candidate policies instead.
        has_policy = self._policy_of(turn) is not None
        # With a need in it, only an aspect in so many words makes it a policy question.
        has_aspect = _said_aspect(turn, specific=bool(turn.needs)) or (
            turn.first("aspect") is not None and not turn.needs
        )
        if turn.intent == "ask_policy":
            return has_policy or has_aspect
        if turn.intent in {"greet", "thanks"} and has_policy:
            return True  # "您好,我想申请低保,请问条件是什么"
        sure_of_danger = (
            turn.intent == "crisis"
            and turn.confidence >= self.policy.thresholds["crisis_suspected"]
        )
        asks = self.policy.matches("question", turn.norm)
        if asks and not sure_of_danger and (has_policy or _said_aspect(turn, specific=True)):
            # A story that ends in a question about a policy, or about how and where to
            # apply, asks about the policy ("…是真的吗 去哪办"), whatever the classifier
            # makes of the story.
            return True
        if turn.intent in {"report_need", "crisis", "check_status", "ask_human"}:
            return False
        if has_policy and self.policy.matches("question", turn.norm):
            return True  # a policy named in a question is a policy question, whatever the intent
        # A low-confidence guess that still names a policy, or a bare follow-up aspect,
        # is a policy question in context ("那要带什么材料?").
        return (turn.parse.fallback or turn.intent == "inform") and (
            has_policy or (has_aspect and state.policy is not None)
        )

    def _follow_up(self, state: ConversationState, turn: Turn) -> str | None:
        """The aspect of a short follow-up ("申请条件呢") to the policy just discussed."""
        if state.policy is None or turn.first("policy") is not None:
            return None
        limit = self.policy.thresholds["follow_up_chars"]
        if self.policy.matches("question", turn.norm):
            limit = self.policy.thresholds["follow_up_question_chars"]
        if len(turn.plain) > limit:
            return None
        if turn.intent in {"report_need", "crisis", "greet", "goodbye", "thanks"}:
            return None
        aspect = turn.first("aspect")
        if aspect is not None:
            return str(aspect)
        if turn.context_aspect is None and self.policy.matches("question", turn.norm):
            eligible = self.policy.matches("eligibility_question", turn.plain)
            return "eligibility" if eligible else "overview"
        return turn.context_aspect


def _said_aspect(turn: Turn, specific: bool = False) -> bool:
    """An aspect in so many words; ``specific``: other than "what is there" (overview)."""
    return any(
        e.entity == "aspect"
        and e.extractor != "classifier"
        and not (specific and e.value == "overview")
        for e in turn.parse.entities
    )


def _policy_named(turn: Turn) -> str | None:
    return _str(turn.first("policy"))


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _aspect(turn: Turn) -> str | None:
    return _str(turn.first("aspect"))


def _place_text(turn: Turn) -> str:
    place = turn.place or {}
    return "".join(str(place.get(k) or "") for k in ("province", "city", "district", "street"))
