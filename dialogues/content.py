"""Load what the assistant says: responses, the intake flow and the safety lexicon.

Every cross-reference is checked at start-up so that a typo by an editor fails loudly
with the file and key, not in front of a resident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

from dialogues.errors import FlowError
from dialogues.schema import Button, Reply

DIALOGUES_DIR = Path(__file__).parent
SLOT_KINDS = {"place", "household", "income", "assistance", "needs", "urgency", "phone"}
_FLOW_TEXTS = (
    "intro",
    "progress",
    "confirm",
    "fix_prompt",
    "consent_caseworker",
    "consent_charity",
    "declined",
    "posted",
    "already_posted",
    "merged",
    "unknown_recorded",
    "skip_offer",
    "corrected",
    "resume",
    "restarted",
    "cancelled",
    "back",
    "expired",
    "resumed_after_break",
    "stale_button",
    "already_registering",
    "noted",
)
_BUTTON_LISTS = (
    "confirm_buttons",
    "consent_caseworker_buttons",
    "consent_charity_buttons",
    "skip_buttons",
)
_SAFETY_TEXTS = (
    "default_text",
    "default_label",
    "default_need",
    "updated",
    "check_question",
    "check_cleared",
    "lead_notice",
    "ask_phone",
    "sources",
)


class _SafeVars(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders; unknown names stay visible rather than crash."""
    return template.format_map(_SafeVars(values))


def _check_templates(path: Path, where: str, value: object) -> None:
    """Every text with {placeholders} must be a valid template: a stray brace is an error."""
    if isinstance(value, str):
        try:
            list(Formatter().parse(value))
        except ValueError as exc:
            raise FlowError(f"{path}: {where}: {exc}") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(path, f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(path, f"{where}[{index}]", item)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(document, dict):
        raise FlowError(f"{path}: the top level must be a mapping")
    for key, value in document.items():
        if key not in {"no_words", "yes_words", "kinds"}:  # regular expressions, not templates
            _check_templates(path, str(key), value)
    return document


def _buttons(path: Path, where: str, raw: object) -> tuple[Button, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FlowError(f"{path}: {where}: must be a list of buttons")
    buttons = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("title") or not item.get("payload"):
            raise FlowError(f"{path}: {where}[{index}]: a button needs title and payload")
        extra = sorted(set(item) - {"title", "payload"})
        if extra:
            # An unquoted ASCII comma in a flow mapping splits the title into a new key.
            raise FlowError(
                f"{path}: {where}[{index}]: unknown key {extra[0]!r} (quote titles with commas)"
            )
        buttons.append(Button(str(item["title"]), str(item["payload"])))
    return tuple(buttons)


@dataclass(frozen=True, slots=True)
class Slot:
    """One question of the intake."""

    name: str
    kind: str
    required: bool
    question: str
    example: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class Flow:
    """The intake flow as loaded from YAML."""

    slots: tuple[Slot, ...]
    texts: dict[str, str]
    buttons: dict[str, tuple[Button, ...]]
    yes_words: tuple[re.Pattern[str], ...] = ()
    no_words: tuple[re.Pattern[str], ...] = ()

    def yes_or_no(self, normalized: str) -> str | None:
        """``"affirm"``, ``"deny"`` or ``None`` for a typed answer to a yes/no question."""
        stripped = re.sub(r"[\s,。.!!??~]+", "", normalized)
        spans: list[tuple[int, int]] = []
        said_no = False
        for pattern in self.no_words:
            for match in pattern.finditer(stripped):
                said_no = True
                spans.append(match.span())
        said_yes = any(
            not any(s < m.end() and m.start() < e for s, e in spans)
            for pattern in self.yes_words
            for m in pattern.finditer(stripped)
        )
        if said_no == said_yes:
            return None
        return "deny" if said_no else "affirm"

    def slot(self, name: str) -> Slot:
        """A slot by name."""
        return next(s for s in self.slots if s.name == name)


@dataclass(frozen=True, slots=True)
class CrisisKind:
    """A kind of danger, the words that reveal it and what to say first."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    text: str
    unless: tuple[re.Pattern[str], ...] = ()
    label: str = ""  # what the caseworker reads first in the lead's summary
    need: str = "other"  # the lead's need category
    # All patterns in one alternation: most messages match none, and one search says so.
    any_pattern: re.Pattern[str] | None = None

    def matches(self, normalized: str) -> bool:
        """True when some danger pattern matches outside every harmless reading.

        An ``unless`` match only cancels the danger words it overlaps, so "手机死了算了,
        我也不想活了" is still a crisis.
        """
        if self.any_pattern is not None and self.any_pattern.search(normalized) is None:
            return False
        harmless = [(m.start(), m.end()) for p in self.unless for m in p.finditer(normalized)]
        for pattern in self.patterns:
            for match in pattern.finditer(normalized):
                if not any(s < match.end() and match.start() < e for s, e in harmless):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class Content:
    """Everything the engine says."""

    responses: dict[str, Reply]
    intents: tuple[str, ...]
    flow: Flow
    crisis_kinds: tuple[CrisisKind, ...]
    safety: dict[str, str]
    crisis_check_buttons: tuple[Button, ...]
    defaults: dict[str, str]
    labels: dict[str, Any]

    def label(self, group: str, code: object) -> str:
        """The display name of a contract code, or the code itself."""
        names = self.labels.get(group, {})
        return str(names.get(code, code)) if isinstance(names, dict) else str(code)

    def crisis_kind(self, name: str) -> CrisisKind:
        """A kind of danger by name; unknown names get the default advice."""
        return next(
            (k for k in self.crisis_kinds if k.name == name),
            next(k for k in self.crisis_kinds if k.name == "default"),
        )

    def reply(self, name: str, values: dict[str, Any] | None = None) -> Reply:
        """Render a response by name."""
        template = self.responses[name]
        return Reply(fill(template.text, values or {}), template.buttons)


def load_responses(path: Path) -> tuple[dict[str, Reply], tuple[str, ...]]:
    """Read the responses of ``domain.yml``."""
    document = _read(path)
    responses: dict[str, Reply] = {}
    for name, variants in (document.get("responses") or {}).items():
        if not name.startswith("utter_"):
            raise FlowError(f"{path}: responses.{name}: names start with 'utter_'")
        if not isinstance(variants, list) or not variants or "text" not in variants[0]:
            raise FlowError(f"{path}: responses.{name}: needs at least one '- text:'")
        first = variants[0]
        responses[name] = Reply(
            str(first["text"]), _buttons(path, f"responses.{name}.buttons", first.get("buttons"))
        )
    return responses, tuple(str(i) for i in document.get("intents") or [])


def load_flow(path: Path) -> Flow:
    """Read ``flows/intake.yml`` and check every key it must have."""
    document = _read(path)
    slots = []
    for index, raw in enumerate(document.get("slots") or []):
        where = f"slots[{index}]"
        if not isinstance(raw, dict):
            raise FlowError(f"{path}: {where}: must be a mapping")
        for key in ("name", "kind", "question", "example"):
            if not raw.get(key):
                raise FlowError(f"{path}: {where}.{key}: missing")
        if raw["kind"] not in SLOT_KINDS:
            raise FlowError(f"{path}: {where}.kind: unknown kind {raw['kind']!r}")
        slots.append(
            Slot(
                name=str(raw["name"]),
                kind=str(raw["kind"]),
                required=bool(raw.get("required", True)),
                question=str(raw["question"]),
                example=str(raw["example"]),
                buttons=_buttons(path, f"{where}.buttons", raw.get("buttons")),
            )
        )
    kinds = [s.kind for s in slots]
    if sorted(kinds) != sorted(set(kinds)) or set(kinds) != SLOT_KINDS:
        raise FlowError(f"{path}: slots: each kind {sorted(SLOT_KINDS)} must appear exactly once")
    texts = {}
    for key in _FLOW_TEXTS:
        if not document.get(key):
            raise FlowError(f"{path}: {key}: missing")
        texts[key] = str(document[key])
    buttons = {key: _buttons(path, key, document.get(key)) for key in _BUTTON_LISTS}
    for key in _BUTTON_LISTS:
        if not buttons[key]:
            raise FlowError(f"{path}: {key}: missing")
    return Flow(
        tuple(slots),
        texts,
        buttons,
        compile_patterns(path, "yes_words", document.get("yes_words")),
        compile_patterns(path, "no_words", document.get("no_words")),
    )


def compile_patterns(path: Path, where: str, raw: object) -> tuple[re.Pattern[str], ...]:
    """Compile a YAML list of regular expressions; errors name the file and key."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FlowError(f"{path}: {where}: must be a list of patterns")
    compiled = []
    for index, pattern in enumerate(raw):
        try:
            compiled.append(re.compile(str(pattern)))
        except re.error as exc:
            raise FlowError(f"{path}: {where}[{index}]: bad pattern {pattern!r}: {exc}") from exc
    return tuple(compiled)


def load_safety(
    path: Path,
) -> tuple[tuple[CrisisKind, ...], dict[str, str], tuple[Button, ...]]:
    """Read ``safety.yml``."""
    document = _read(path)
    kinds = []
    for name, raw in (document.get("kinds") or {}).items():
        if not isinstance(raw, dict) or not raw.get("patterns") or not raw.get("text"):
            raise FlowError(f"{path}: kinds.{name}: needs patterns and text")
        unknown = sorted(set(raw) - {"patterns", "unless", "text", "label", "need"})
        if unknown:
            raise FlowError(f"{path}: kinds.{name}: unknown key {unknown[0]!r}")
        patterns = compile_patterns(path, f"kinds.{name}.patterns", raw["patterns"])
        kinds.append(
            CrisisKind(
                name,
                patterns,
                str(raw["text"]),
                compile_patterns(path, f"kinds.{name}.unless", raw.get("unless")),
                str(raw.get("label") or name),
                str(raw.get("need") or "other"),
                re.compile("|".join(f"(?:{p.pattern})" for p in patterns)),
            )
        )
    texts = {}
    for key in _SAFETY_TEXTS:
        if not document.get(key):
            raise FlowError(f"{path}: {key}: missing")
        texts[key] = str(document[key])
    buttons = _buttons(path, "check_buttons", document.get("check_buttons"))
    if not buttons:
        raise FlowError(f"{path}: check_buttons: missing")
    kinds.append(
        CrisisKind(
            "default", (), texts["default_text"], (), texts["default_label"], texts["default_need"]
        )
    )
    return tuple(kinds), texts, buttons


REQUIRED_RESPONSES = (
    "utter_greet",
    "utter_goodbye",
    "utter_thanks",
    "utter_ask_which_policy",
    "utter_answer",
    "utter_aspect_unknown",
    "utter_dont_know",
    "utter_out_of_scope",
    "utter_empty",
    "utter_too_long",
    "utter_ask_human",
    "utter_offer_help",
    "utter_complaint",
    "utter_check_status_none",
    "utter_check_status",
    "utter_fallback_report",
)


def load_content(root: Path = DIALOGUES_DIR, nlu_intents: list[str] | None = None) -> Content:
    """Load and cross-check all dialogue content."""
    domain = root / "domain.yml"
    responses, intents = load_responses(domain)
    document = _read(domain)
    defaults = {str(k): str(v) for k, v in (document.get("defaults") or {}).items()}
    for key in ("office", "hotline", "helper_title"):
        if key not in defaults:
            raise FlowError(f"{domain}: defaults.{key}: missing")
    labels = document.get("labels") or {}
    for key in ("aspect", "relation", "condition", "need", "urgency", "status", "summary"):
        if not isinstance(labels.get(key), dict):
            raise FlowError(f"{domain}: labels.{key}: missing")
    for name in REQUIRED_RESPONSES:
        if name not in responses:
            raise FlowError(f"{root / 'domain.yml'}: responses.{name}: missing")
    if nlu_intents is not None:
        unknown = sorted(set(nlu_intents) - set(intents))
        if unknown:
            raise FlowError(f"{root / 'domain.yml'}: intents: NLU intent {unknown[0]!r} missing")
    flow = load_flow(root / "flows" / "intake.yml")
    kinds, safety, check_buttons = load_safety(root / "safety.yml")
    return Content(responses, intents, flow, kinds, safety, check_buttons, defaults, labels)
