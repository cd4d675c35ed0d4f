"""Entity extraction: a gazetteer built from the training data plus rules for numbers.

Categorical entities (policy, aspect, relation, condition, district, street, …) come from the
Rasa data itself — annotated examples, synonyms and lookup tables — plus terms the caller adds
(districts and streets of the knowledge base). Numeric entities (money, age, household size,
phone, ID number) are read by rules, because residents write them in too many ways to list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nlu.normalize import normalize
from nlu.numbers import NUMBER_PATTERN, parse_number
from nlu.schema import Entity
from nlu.training_data import TrainingData

# Entities the rules below own; the gazetteer never learns them from examples.
NUMERIC_ENTITIES = frozenset({"money", "age", "household_size", "phone", "id_number", "period"})

_N = NUMBER_PATTERN
_MOBILE = re.compile(r"(?<![\d])(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![\d])")
_LANDLINE = re.compile(r"(?<![\d])(0\d{2,3})[ -]?([2-9]\d{6,7})(?![\d])")
_ID_NUMBER = re.compile(r"(?<![\dx])(\d{17}[\dx])(?![\dx])")
_MONEY_UNIT = re.compile(rf"(?P<n>{_N})\s*(?:元|块钱|块|圆|rmb)")
_MONEY_MULTIPLIER = re.compile(r"(?<![\d.])(?P<n>\d+(?:\.\d+)?\s*[万kw])(?:多|来|左右)?(?![a-z])")
_MONEY_CONTEXT = re.compile(
    r"(?:收入|工资|退休金|养老金|低保金|补贴|挣|赚|月入|月薪|年薪|拿|花了|花|医药费|药费|"
    r"欠|房租|租金|学费|自付|加起来|一共|总共|每月|每个月|一个月|一年|每年)"
    rf"(?:大概|大约|差不多|有|是|才|就|只有|能|共|了|都|也)*\s*(?P<n>{_N})"
    r"(?!\s*(?:个|岁|口|人|次|天|年|月|号|楼|室|点|周|家|万?岁))"
)
_AGE = re.compile(rf"(?P<n>{_N})\s*(?:周岁|岁)")
_AGE_CONTEXT = re.compile(
    r"(?:都|已经|今年|快|年纪|年龄|岁数)\s*(?:有|是)?\s*(?P<n>[一二三四五六七八九十]+十?[多来]?|\d{2}多?)"
    r"(?:了|啦|的人|老人)"
)
_HOUSEHOLD = re.compile(
    rf"(?:一家|全家|家里|家中|我们家|我家|户里|家)?\s*(?P<n>{_N})\s*(?:口人|口之家|口|个人|人)"
)
_ALONE = re.compile(r"就我一个|就我自己|只有我一个|只有我自己|我一个人|就我一人|独自一人|孤身一人")
_PERIOD_MONTH = re.compile(r"每个?月|一个月|月收入|月入|月薪|按月|一月")
_PERIOD_YEAR = re.compile(r"每年|一年|年收入|年薪|全年")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10x98765432"


def valid_id_number(number: str) -> bool:
    """True when an 18-character resident ID number has a valid check digit (GB 11643)."""
    number = number.lower()
    if not re.fullmatch(r"\d{17}[\dx]", number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


@dataclass(frozen=True, slots=True)
class Term:
    """A surface form that names a categorical entity value."""

    surface: str
    entity: str
    value: str


def terms_from_training_data(data: TrainingData) -> list[Term]:
    """Gazetteer terms: synonyms first (they are curated), then annotations and lookups."""
    entity_of_value: dict[str, str] = {}
    annotated: list[Term] = []
    for example in data.examples:
        for ann in example.entities:
            if ann.entity in NUMERIC_ENTITIES:
                continue
            entity_of_value.setdefault(ann.value, ann.entity)
            annotated.append(Term(ann.text, ann.entity, ann.value))
    terms = [
        Term(surface, entity_of_value[value], value)
        for surface, value in data.synonyms.items()
        if value in entity_of_value
    ]
    terms.extend(annotated)
    for name, items in data.lookups.items():
        terms.extend(Term(item, name, data.synonyms.get(item, item)) for item in items)
    return terms


class EntityExtractor:
    """Finds every contract entity in a message; built once, used for every message."""

    def __init__(self, terms: Iterable[Term], regexes: dict[str, list[str]] | None = None):
        """Compile the gazetteer into one alternation, longest surface first."""
        self._by_surface: dict[str, Term] = {}
        for term in terms:
            surface = normalize(term.surface.strip())
            if surface and surface not in self._by_surface:
                self._by_surface[surface] = Term(surface, term.entity, term.value)
        ordered = sorted(self._by_surface, key=len, reverse=True)
        self._gazetteer = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
        self._regexes = [
            (name, re.compile(pattern))
            for name, patterns in (regexes or {}).items()
            if name not in NUMERIC_ENTITIES
            for pattern in patterns
        ]

    @property
    def terms(self) -> list[Term]:
        """All gazetteer terms (normalised surfaces)."""
        return list(self._by_surface.values())

    def extract(self, text: str, normalized: str | None = None) -> list[Entity]:
        """All entities in ``text``, without overlaps, in order of appearance."""
        norm = normalized if normalized is not None else normalize(text)
        found = self._numeric(norm)
        if self._gazetteer is not None:
            for match in self._gazetteer.finditer(norm):
                term = self._by_surface[match.group(0)]
                found.append(Entity(term.entity, term.value, match.start(), match.end(), "lookup"))
        for name, pattern in self._regexes:
            found.extend(
                Entity(name, m.group(0), m.start(), m.end(), "regex")
                for m in pattern.finditer(norm)
            )
        return _without_overlaps(found)

    def _numeric(self, norm: str) -> list[Entity]:
        found: list[Entity] = []
        for m in _ID_NUMBER.finditer(norm):
            if valid_id_number(m.group(1)):
                found.append(Entity("id_number", m.group(1).upper(), m.start(), m.end()))
        for m in _MOBILE.finditer(norm):
            found.append(Entity("phone", "".join(m.groups()), m.start(), m.end()))
        for m in _LANDLINE.finditer(norm):
            found.append(Entity("phone", f"{m.group(1)}-{m.group(2)}", m.start(), m.end()))
        for pattern in (_MONEY_UNIT, _MONEY_MULTIPLIER, _MONEY_CONTEXT):
            for m in pattern.finditer(norm):
                value = parse_number(m.group("n"))
                if value is not None and value > 0:
                    found.append(Entity("money", value, m.start("n"), m.end()))
        for pattern in (_AGE, _AGE_CONTEXT):
            for m in pattern.finditer(norm):
                value = parse_number(m.group("n"))
                if value is not None and 0 < value < 130:
                    found.append(Entity("age", value, m.start("n"), m.end("n")))
        for m in _HOUSEHOLD.finditer(norm):
            value = parse_number(m.group("n"))
            if value is not None and 0 < value <= 20:
                found.append(Entity("household_size", value, m.start(), m.end()))
        for m in _ALONE.finditer(norm):
            found.append(Entity("household_size", 1, m.start(), m.end()))
        for pattern, period in ((_PERIOD_MONTH, "month"), (_PERIOD_YEAR, "year")):
            found.extend(
                Entity("period", period, m.start(), m.end()) for m in pattern.finditer(norm)
            )
        return found


_PRIORITY = {"id_number": 0, "phone": 1, "money": 2, "age": 3, "household_size": 4}


def _without_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the longest of overlapping spans; rules win ties over the gazetteer.

    ``period`` may overlap a money span ("每月两千"): both are kept, as Rasa would.
    """
    ranked = sorted(
        entities,
        key=lambda e: (-(e.end - e.start), _PRIORITY.get(e.entity, 9), e.start),
    )
    kept: list[Entity] = []
    for entity in ranked:
        clash = any(
            entity.start < k.end
            and k.start < entity.end
            and {entity.entity, k.entity} != {"period", "money"}
            for k in kept
        )
        if not clash:
            kept.append(entity)
    return sorted(kept, key=lambda e: (e.start, e.end))
