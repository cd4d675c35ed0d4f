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
# Entities whose names are matched with one wrong character allowed, as residents misspell
# them (特因供养, 低保边援), when nothing matched exactly; only in short messages.
FUZZY_ENTITIES = frozenset({"policy"})
FUZZY_MAX_CHARS = 80
NUMERIC_ENTITIES = frozenset({"money", "age", "household_size", "phone", "id_number", "period"})

# Atomic: a number is read whole or not at all ("十几个" must not back off to "十").
_N = f"(?>{NUMBER_PATTERN})"
_MOBILE = re.compile(r"(?<![\d])(1[3-9]\d)[ .-]?(\d{4})[ .-]?(\d{4})(?![\d])")
_LANDLINE = re.compile(r"(?<![\d])(0\d{2,3})[ -]?([2-9]\d{6,7})(?![\d])")
_ID_NUMBER = re.compile(r"(?<![\dx])(\d{17}[\dx])(?![\dx])")
_MONEY_UNIT = re.compile(rf"(?<![这那哪])(?P<n>{_N})\s*(?:元|块钱|块|圆|rmb)")
_MONEY_MULTIPLIER = re.compile(r"(?<![\d.])(?P<n>\d+(?:\.\d+)?\s*[万kw])(?:多|来|左右)?(?![a-z])")
# A Chinese numeral with a 百/千/万 unit is an amount of money in this domain ("一千二的养老金").
_MONEY_BIG = re.compile(
    rf"(?P<n>{_N})(?!\s*(?:人|口|岁|个|次|年|天|米|斤|号|户|家|名|位|里|公里))"
)
_MONEY_CONTEXT = re.compile(
    r"(?:收入|工资|退休金|养老金|低保金|补贴|挣|赚|月入|月薪|年薪|拿|花了|花|医药费|药费|"
    r"欠|房租|租金|学费|自付|加起来|一共|总共|每月|每个月|一个月|一年|每年|要|差|还差|才|只有|不到)"
    rf"[^\d零〇一二两三四五六七八九十百千万,。,.!?]{{0,4}}?(?P<n>{_N})"
    r"(?![几多]?\s*(?:个|岁|口|人|次|天|年|月|号|楼|室|点|周|家|万?岁|屁股|堆|大|些|点))"
)
_AGE = re.compile(rf"(?P<n>{_N})\s*(?:周岁|岁)")
_AGE_CONTEXT = re.compile(
    r"(?:我|俺|他|她|妈|爸|老伴儿?|奶奶|爷爷|外公|外婆|姥姥|姥爷|父亲|母亲|老人|今年|都|也|已经|快|年纪|岁数)"
    r"\s*(?:有|是|才)?\s*"
    r"(?P<n>[二三四五六七八九]十[一二三四五六七八九]?|一百|\d{2})(?:多|来|好几|出头)?"
    r"(?=了|啦|的人|,|,|。|\s|$|岁)"
)
_AGE_ALONE = re.compile(
    r"^(?P<n>[二三四五六七八九]十[一二三四五六七八九]?(?:多|来|好几|出头)?)(?=了|岁|的人|,|,|。|\s|$)"
)
_HOUSEHOLD = re.compile(
    # The space is read only after a "home" word, so that a match never starts inside a run of
    # spaces (trying every start of a long run, each scanning it to its end, was quadratic).
    rf"(?:(?P<home>一家|全家|家里就?|家中|我们家|我家|户里|家)\s*+)?(?P<n>{_N})\s*+(?:口人|口之家|口|个人|人)"
)
_ALONE = re.compile(
    r"(?:^|(?<=[,。;\s]))(?:就|只有)?(?:我|俺)?一个人(?:住|过)?(?=[,。;\s]|$)|"
    r"就我一个人?(?:住|过)?$|我就一个人|家里就我一个|就我自己|只有我一个|只有我自己|独自一人|孤身一人|我一个人住|一个人生活|一个人过日子|"
    # Only "一个人" is the size, so that the person before it stays a relation ("我妈").
    r"(?:(?<=他)|(?<=她)|(?<=老人)|(?<=老爷子)|(?<=老太太)|(?<=我妈)|(?<=我爸)|(?<=俺娘)|(?<=俺爹)|(?<=老妈)|(?<=老爸)|(?<=奶奶)|(?<=爷爷)|(?<=姥姥)|(?<=姥爷))(?:就|现在|一直)?一个人(?:住|过)?|"
    r"(?:^|(?<=[,。;\s]))(?:就)?(?:我|俺)一个(?!人)(?=[,。;\s]|$)"
)
# A street or town the knowledge base does not list yet ("柏树街道", "太和镇").
_STREET = re.compile(
    r"(?<![这那哪乡村城])(?P<name>[\u4e00-\u9fff]{2,5}?(?:街道|镇|乡))(?![长里上下村民政府])"
)
_STREET_STOP = re.compile(r"^(?:在|住|是|的|我|家|到|去|回|从|老|小|城|乡)")
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
    """Gazetteer terms: synonyms first (they are curated), then annotations and lookups.

    An annotated surface joins the gazetteer only if the examples that contain it mostly
    annotate it: "电话" marked once as ``aspect`` but present unmarked in many messages
    ("电话是138…") would otherwise fire everywhere.
    """
    entity_of_value: dict[str, str] = {}
    annotated: dict[tuple[str, str, str], int] = {}
    for example in data.examples:
        for ann in example.entities:
            if ann.entity in NUMERIC_ENTITIES:
                continue
            entity_of_value.setdefault(ann.value, ann.entity)
            key = (ann.text, ann.entity, ann.value)
            annotated[key] = annotated.get(key, 0) + 1
    terms = [
        Term(surface, entity_of_value[value], value)
        for surface, value in data.synonyms.items()
        if value in entity_of_value
    ]
    for (surface, entity, value), count in annotated.items():
        containing = sum(surface in example.text for example in data.examples)
        if count * 2 >= containing:
            terms.append(Term(surface, entity, value))
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
        self._fuzzy_by_first: dict[str, list[Term]] = {}
        for term in self._by_surface.values():
            if term.entity in FUZZY_ENTITIES and len(term.surface) >= 4:
                self._fuzzy_by_first.setdefault(term.surface[0], []).append(term)
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
        if not any(e.entity in FUZZY_ENTITIES for e in found) and len(norm) <= FUZZY_MAX_CHARS:
            found.extend(self._fuzzy(norm, found))
        if not any(e.entity == "street" for e in found):
            found.extend(_unlisted_streets(norm, found))
        for name, pattern in self._regexes:
            found.extend(
                Entity(name, m.group(0), m.start(), m.end(), "regex")
                for m in pattern.finditer(norm)
            )
        return _without_overlaps(found)

    def _fuzzy(self, norm: str, found: list[Entity]) -> list[Entity]:
        """Names of 4+ characters written with one wrong character ("特因供养").

        The first character must be right: that keeps the search to a few candidate
        names per position, well inside the parse budget.
        """
        taken = [(e.start, e.end) for e in found]
        for start, char in enumerate(norm):
            for term in self._fuzzy_by_first.get(char, ()):
                end = start + len(term.surface)
                if end > len(norm) or any(s < end and start < e for s, e in taken):
                    continue
                window = norm[start:end]
                if sum(a != b for a, b in zip(window, term.surface, strict=True)) == 1:
                    return [Entity(term.entity, term.value, start, end, "fuzzy")]
        return []

    def _numeric(self, norm: str) -> list[Entity]:
        found: list[Entity] = []
        for m in _ID_NUMBER.finditer(norm):
            if valid_id_number(m.group(1)):
                found.append(Entity("id_number", m.group(1).upper(), m.start(), m.end()))
        for m in _MOBILE.finditer(norm):
            found.append(Entity("phone", "".join(m.groups()), m.start(), m.end()))
        for m in _LANDLINE.finditer(norm):
            found.append(Entity("phone", f"{m.group(1)}-{m.group(2)}", m.start(), m.end()))
        for pattern, low in ((_MONEY_UNIT, 1), (_MONEY_MULTIPLIER, 1), (_MONEY_CONTEXT, 10)):
            for m in pattern.finditer(norm):
                value = parse_number(m.group("n"))
                if value is not None and value >= low:
                    found.append(Entity("money", value, m.start("n"), m.end()))
        for m in _MONEY_BIG.finditer(norm):
            value = parse_number(m.group("n"))
            if value is not None and value >= 100 and re.search("[百千万]", m.group("n")):
                found.append(Entity("money", value, m.start("n"), m.end("n")))
        for pattern in (_AGE, _AGE_CONTEXT, _AGE_ALONE):
            for m in pattern.finditer(norm):
                value = parse_number(m.group("n"))
                if value is not None and 0 < value < 130:
                    found.append(Entity("age", value, m.start("n"), m.end("n")))
        for m in _HOUSEHOLD.finditer(norm):
            value = parse_number(m.group("n"))
            # "一个人" alone is how people say "by myself" about anything, not a household.
            if value == 1 and not m.group("home"):
                continue
            if value is not None and 0 < value <= 20:
                found.append(Entity("household_size", value, m.start(), m.end()))
        for m in _ALONE.finditer(norm):
            found.append(Entity("household_size", 1, m.start(), m.end()))
        for pattern, period in ((_PERIOD_MONTH, "month"), (_PERIOD_YEAR, "year")):
            found.extend(
                Entity("period", period, m.start(), m.end()) for m in pattern.finditer(norm)
            )
        return found


def _unlisted_streets(norm: str, found: list[Entity]) -> list[Entity]:
    """Streets and towns the knowledge base does not list yet, after a known district."""
    districts = [e for e in found if e.entity == "district"]
    streets = []
    for match in _STREET.finditer(norm):
        start, end = match.start("name"), match.end("name")
        # Only right after a district ("安居区柏树街道"): alone, "街道" and "镇" are too common.
        after = [d for d in districts if d.start <= start <= d.end + 1]
        if not after:
            continue
        start = max(start, after[-1].end)
        while start < end - 3 and _STREET_STOP.match(norm[start:end]):
            start += 1
        if end - start >= 3:
            streets.append(Entity("street", norm[start:end], start, end, "rules"))
    return streets


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
    # Which kept entities cover each character: checking a span costs its length, not the
    # number kept so far (a message of 666 "三个人" made that quadratic).
    covered: dict[int, list[str]] = {}
    for entity in ranked:
        clash = any(
            {entity.entity, other} != {"period", "money"}
            for position in range(entity.start, entity.end)
            for other in covered.get(position, ())
        )
        if not clash:
            kept.append(entity)
            for position in range(entity.start, entity.end):
                covered.setdefault(position, []).append(entity.entity)
    return sorted(kept, key=lambda e: (e.start, e.end))
