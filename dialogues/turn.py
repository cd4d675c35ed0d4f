"""A message read once: normalised, parsed, and read for every slot, in the conversation's context.

Everything downstream (``understand``, the flows) works from this one ``Turn``; nothing
normalises or parses the same message again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from dialogues.content import Content
from dialogues.reading import Reading, read_message
from dialogues.schema import ConversationState
from knowledge.base import KnowledgeBase
from knowledge.rules import LeadRules
from knowledge.schema import ASPECTS
from nlu.normalize import normalize
from nlu.places import PlaceFinder
from nlu.schema import Entity, IntentScore, ParseResult

MAX_MESSAGE_CHARS = 2000
_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$", re.S)
_PUNCT = re.compile(r"[\s,。.!!??~、;;::\"'“”…()()]+")
_NEGATION = re.compile(r"不是|不对|错了|改成|搬到|搬去")
_STEPS = frozenset({"confirm", "consent_caseworker", "consent_charity"})


class NluReader(Protocol):
    """The NLU port: anything that turns text into a ``ParseResult``.

    The built-in pipeline is the default; a running Rasa server can stand in (``bot/``).
    """

    def parse(self, text: str) -> ParseResult:
        """Understand one message."""

    def guess(self, name: str, text: str) -> str | None:
        """A message-level entity (``aspect``) for a short follow-up, or None."""


class RemoteParser(Protocol):
    """An NLU reached over the network (a running Rasa server): read before the turn is."""

    async def parse(self, text: str) -> ParseResult:
        """Understand one message; never raises (falls back to the built-in NLU)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One message, read once.

    Attributes:
        text: the message as received (cleaned of NUL and lone surrogates, cut to length).
        norm: simplified, half-width, same length as ``text``.
        plain: ``norm`` without spaces and punctuation, for whole-message word lists.
        parse: intent and entities.
        payload: True for a button payload (``/intent{...}``).
        reading: every intake slot the message fills, given the question being asked.
        place: where the resident says they are (province/city/district/street), if anywhere.
        region_id: the knowledge base's region for that place, if it has one.
        needs: need categories the message names.
        danger: the crisis lexicon's kind for this message, if any.
        context_aspect: for a short message after a policy answer, the aspect it most likely
            asks about ("那要带啥" → materials), compared among aspects only.
        truncated: the message was longer than ``MAX_MESSAGE_CHARS``.
    """

    text: str
    norm: str
    plain: str
    parse: ParseResult
    payload: bool
    reading: Reading
    place: dict[str, str] | None
    region_id: str | None
    needs: tuple[str, ...]
    danger: str | None
    truncated: bool = False
    context_aspect: str | None = None

    @property
    def intent(self) -> str:
        """The intent's name."""
        return self.parse.intent.name

    @property
    def confidence(self) -> float:
        """The intent's confidence."""
        return self.parse.intent.confidence

    def first(self, entity: str) -> str | int | None:
        """The first value of an entity, if any."""
        return self.parse.first(entity)


class TurnReader:
    """Reads messages into turns; built once, shared by every conversation."""

    def __init__(
        self,
        nlu: NluReader,
        kb: KnowledgeBase,
        rules: LeadRules,
        content: Content,
        places: PlaceFinder | None = None,
    ):
        """Keep the parts a reading needs."""
        self.nlu = nlu
        self.kb = kb
        self.rules = rules
        self.content = content
        self.places = places or PlaceFinder.load()
        self._areas: dict[str, dict[str, str]] = {}

    def read(self, text: str, state: ConversationState, parsed: ParseResult | None = None) -> Turn:
        """Read one (already storable, non-empty) message in the conversation's context.

        ``parsed``: the message as a remote NLU read it; a button payload is read here anyway.
        """
        truncated = len(text) > MAX_MESSAGE_CHARS
        text = text[:MAX_MESSAGE_CHARS]
        parse = self.payload(text)
        payload = parse is not None
        if parse is None:
            parse = parsed if parsed is not None else self.nlu.parse(text)
        norm = normalize(text)
        intake = state.intake
        asked = intake.asked if intake is not None else None
        reading = read_message(parse, self.rules, asked, norm) if not payload else Reading()
        place, region_id = (None, None) if payload else self._place(parse, norm)
        if place is not None:
            reading.values["place"] = place
        danger = None if payload else self._danger(norm)
        return Turn(
            text=text,
            norm=norm,
            plain=_PUNCT.sub("", norm),
            parse=parse,
            payload=payload,
            reading=reading,
            place=place,
            region_id=region_id,
            needs=tuple(self.rules.needs_in(norm)) if not payload else (),
            danger=danger,
            truncated=truncated,
            context_aspect=self._context_aspect(text, parse, state, payload),
        )

    def _context_aspect(
        self, text: str, parse: ParseResult, state: ConversationState, payload: bool
    ) -> str | None:
        if payload or state.policy is None or state.intake is not None or len(text) > 20:
            return None
        if parse.first("aspect") is not None or parse.first("policy") is not None:
            return None
        return self.nlu.guess("aspect", text)

    # -- parts -----------------------------------------------------------------------------

    def payload(self, text: str) -> ParseResult | None:
        """A button payload (``/intent{"entity": "value"}``), or None for typed text."""
        match = _PAYLOAD.match(text.strip())
        if not match:
            return None
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

    def _valid_payload_entity(self, name: object, value: object) -> bool:
        """Buttons may only carry what the assistant itself puts on buttons."""
        if not isinstance(value, str):  # a hand-made payload may hold lists, objects, numbers
            return False
        if name == "policy":
            return value in self.kb.policies
        if name == "aspect":
            return value in ASPECTS
        if name == "step":
            return value in _STEPS
        return False

    def _place(self, parse: ParseResult, norm: str) -> tuple[dict[str, str] | None, str | None]:
        """Where the message places the resident: a known region first, else anywhere in China.

        ``district`` is the most specific county-level name said; ``region_district`` is the
        knowledge base's district (for 山东 its city) that decides who helps.
        """
        # "不是长宁,是浦东新区": of two places in a correction, the last one is meant.
        last = bool(_NEGATION.search(norm))
        district = _pick(parse.values("district"), last)
        street = _pick(parse.values("street"), last)
        known = self.kb.place(district, street)
        found = self.places.find(norm)
        if known is None and found is not None:
            for name in (found.district, found.city):
                known = self.kb.place(name) if name else None
                if known is not None:
                    break
        if known is not None:
            area = self._area(known.district)
            county = known.district
            if found is not None and found.district and found.city == area.get("city"):
                county = found.district  # 兰山区 in 临沂市: more precise than the region's name
            place = {
                **area,
                "district": county,
                "street": known.street or (found.street if found else None) or "",
                "region_district": known.district,
            }
            return place, known.region.id
        if found is None:
            return None, None
        place = {
            "province": found.province or "",
            "city": found.city or "",
            "district": found.district or "",
            "street": found.street or "",
        }
        return place, None

    def _area(self, district: str) -> dict[str, str]:
        """Province and city of a knowledge-base district, from the division data."""
        area = self._areas.get(district)
        if area is None:
            found = self.places.find(district)
            area = {
                "province": (found.province if found else None) or "",
                "city": (found.city if found else None) or "",
            }
            self._areas[district] = area
        return area

    def _danger(self, norm: str) -> str | None:
        for kind in self.content.crisis_kinds:
            if kind.matches(norm):
                return kind.name
        return None


def _pick(values: list[str | int], last: bool) -> str | None:
    if not values:
        return None
    return str(values[-1] if last else values[0])


def outside_place_name(place: object, region_id: str | None) -> str:
    """The place in words when it lies outside the regions zhaoren serves, else ""."""
    if not isinstance(place, dict) or region_id is not None:
        return ""
    if not (place.get("district") or place.get("city") or place.get("province")):
        return ""
    return place_name(place)


def place_name(place: dict[str, Any] | None) -> str:
    """A place in words: 河北省邯郸市丛台区, without repeating 上海市上海市."""
    if not place:
        return ""
    parts: list[str] = []
    for key in ("province", "city", "district", "street"):
        value = str(place.get(key) or "")
        if value and value not in parts:
            parts.append(value)
    return "".join(parts)
