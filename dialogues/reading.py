"""Read a resident's message into intake slots.

One message may answer several questions at once ("我和老伴两个人,都七十多了,每月退休金加起来
两千多,住在长宁区新华路"). Each reader takes what it can from the parse and the text and
returns only the slots it is sure of; the question being asked widens what counts (a bare
"两千" is an income only when income was asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from knowledge.rules import LeadRules
from nlu.normalize import normalize
from nlu.numbers import NUMBER_PATTERN, parse_number
from nlu.privacy import redact
from nlu.schema import Entity, ParseResult

_INCOME_CUES = re.compile(
    r"收入|工资|退休金|养老金|月入|月薪|年薪|挣|赚|补贴|进账|加起来|一共|每个?月|一个月|每年|一年"
)
# Money spent, owed or needed is not income, even in a sentence about a month.
_EXPENSE_CUES = re.compile(r"药费|医药费|住院|手术|房租|租金|学费|欠|花了?|要|差|交|付|债")
_CORRECTION_WORDS = re.compile(r"不对|不是|说错|改成|更正")
_NO_INCOME_ANYWHERE = re.compile(
    r"没有?(?:任何)?收入|没收入|零收入|没有进账|没得收入|没啥收入|莫得收入|一分(?:钱)?(?:都|也)?没|"
    r"收入(?:都|也)?(?:没有|莫得|没得)|一点收入都没|没进项|没有进项|没有收入来源"
)
_NO_INCOME = re.compile(r"一分(?:钱)?都没有|^没有$|^没$|^无$|^零$|^0$")
_RECEIVING_CUE = re.compile(r"(?:在|已经|正在|领|拿|吃|享受|有|办了|批了)[^,。,.!?]{0,4}$")
# "有没有助学的政策", "还有受灾的补助": asking about it or wanting it, not receiving it.
_NOT_RECEIVING_CUE = re.compile(r"(?:有没有|有无|还有|想|要|申请|问问?|了解)[^,。,.!?]{0,3}$")
_NONE = re.compile(
    r"^(?:没有|没|无|都没有|什么都没有|啥也没有|啥都没有|什么也没有|一样也没有|没有领|没领|没享受|"
    r"一样都没有|莫得|么得|没得)"
)
_YES_ONLY = re.compile(r"^(?:有|有的|领了|在领)$")
_NAME = re.compile(
    r"(?:我姓|姓)(?P<surname>[\u4e00-\u9fff])(?P<suffix>阿姨|大爷|大妈|先生|女士|师傅)?"
)
_NAME_FULL = re.compile(
    r"(?:我叫|叫我|称呼我?)(?P<name>[\u4e00-\u9fff]{1,4}?)(?:[,。,. ]|$|吧|就行)"
)
_EXPLICIT_URGENCY = (
    (
        re.compile(
            r"不急|不着急|不太急|不是很急|没那么着?急|不怎么急|没多急|不算急|还不急|倒不急"
        ),
        "later",
    ),
    (re.compile(r"比较急|有点急|挺急"), "soon"),
    (re.compile(r"非常急|很急|特别急|十万火急|急死"), "urgent"),
)
_URGENT = re.compile(r"非常急|很急|特别急|十万火急|马上|今天|明天|这几天|撑不住|过不去|急死")
_SOON = re.compile(r"比较急|有点急|这个月|月底|下个月|挺急")
_LATER = re.compile(r"不急|不着急|不太急|先了解|还好|还行|慢慢来|过得去")
_SELF = re.compile(
    r"我和|我跟|我与|我们俩|我俩|就我(?![爸妈爹娘哥姐弟妹])|我自己|我一个|本人|我今年|我都|我已经|"
    r"我是(?!替|帮|给|为)|"
    r"我有|两口子|老两口|我们两个|我们俩口"
)
# Words for the same person, so that a second mention is not a second member.
_SAME_PERSON = {
    "爸爸": "爸",
    "老爸": "爸",
    "父亲": "爸",
    "老父亲": "爸",
    "爹": "爸",
    "老爹": "爸",
    "老汉儿": "爸",
    "妈妈": "妈",
    "老妈": "妈",
    "母亲": "妈",
    "老母亲": "妈",
    "娘": "妈",
    "老娘": "妈",
    "老伴儿": "老伴",
}
# Words that name two people at once.
_PAIRS = {
    "双胞胎": ("双胞胎大的", "双胞胎小的"),
    "对双胞胎": ("双胞胎大的", "双胞胎小的"),
    "爷爷奶奶": ("爷爷", "奶奶"),
    "外公外婆": ("外公", "外婆"),
    "姥姥姥爷": ("姥姥", "姥爷"),
    "爸妈": ("爸", "妈"),
    "父母": ("爸", "妈"),
    "公婆": ("公公", "婆婆"),
    "公公婆婆": ("公公", "婆婆"),
}
_SIZE_FIRST = re.compile(
    rf"^\s*+(?:(?:家里|一共|总共|我们)\s*+)?(?P<n>{NUMBER_PATTERN})\s*+(?:个|口)(?!月|岁|年)"
)
_NOT_GRANTED = re.compile(
    r"没批|没通过|没批下来|没下来|被拒|不给批|不批|取消了|停了|停发|没有了|不给办"
)
_NOW_NONE = re.compile(
    r"现在没有|目前没有|现在没领|没在领|都没领|现在(?:啥|什么)(?:也|都)没|早(?:就)?用完了|早停了"
)
_THIRD_PERSON = re.compile(r"[他她]")
# The person a message speaks of without naming the relation; resolved on merging.
_SOMEONE = "someone"
_SIZE_TOTAL = re.compile(
    rf"(?:一共|总共|共|加起来)\s*(?P<n>{NUMBER_PATTERN})\s*(?:个|口)|"
    rf"(?P<m>{NUMBER_PATTERN})\s*个(?:人)?\s*$"
)
# How an income amount is said: per year, day or week (else per month), a total, a bound.
_YEARLY = re.compile(r"一年|每年|年收入|年薪|全年|一整年|年底|过年")
_DAILY = re.compile(r"一天|每天|日薪|一日")
_WEEKLY = re.compile(r"每周|一周|一星期|每星期|每礼拜|一礼拜")
_DAYS_WORKED = re.compile(rf"(?:干|做|上|工作|出工)(?P<n>{NUMBER_PATTERN})\s*天")
_TOTAL_CUE = re.compile(r"加起来|一共|总共|合计|总的|也就|差不多|算下来|统共")
_BOUND_CUE = re.compile(r"不到|不超过|最多|顶多")
_SIZE_ADDED = re.compile(rf"加上(?:他|她|他们|她们)?\s*(?P<n>{NUMBER_PATTERN})\s*(?:个|口)")
_ORDINAL = re.compile(r"最大的|最小的|大的|小的|老大|老二|老三|老幺|今年|他|她")
_DENIED = re.compile(r"(?:没|没有|无|不是|并非|也没)$")
_ONLY_ONE = re.compile(r"(?:就|只有|只剩)[^,。]{0,4}一个")
_FOR_SOMEONE = re.compile(
    r"(?:帮|替|给|为)(?:我|俺)(?!们|家里)|(?:帮|替|给|为)(?:爸|妈|爹|娘|父母|爸妈|老人|奶奶|爷爷|"
    r"姥姥|姥爷|外公|外婆|儿子|女儿|闺女|弟弟|妹妹|哥哥|姐姐|邻居)"
)
# Words that tell who lives together, outside the household question.
_LIVES_WITH = re.compile(
    r"住|带着|带俩|带两|一起|我和|我跟|我们|一家|家里|俩人|两口子|娘俩|爷俩|祖孙"
)
# "都七十多了": one age for everyone (not "他爸妈都没了").
_ALL = re.compile(r"都(?:已经|快|是|有)?(?=[\d一二两三四五六七八九])|俩人都|两人都|两个都")
_I = re.compile(r"[我俺](?![们们家])")
# Someone who died or left is not in the household ("老伴前年走了", "老婆跑了").
# Someone away is not either ("儿子儿媳在外打工", "女婿不管").
_DECEASED = re.compile(
    r"[^,。,.他她爸妈儿女]{0,4}(?:走了|走脱了|走得早|走的早|去世|过世|不在了|没了|死了|病故|离世|跑了|"
    r"离家出走|离婚了|改嫁|在外(?:地|面|头)?|外出|出去打工|不管|不住一起|没住一起|不在家)"
)
# "我45、老公47、儿子18": a bare number right after a person is that person's age.
_AGE_AFTER_PERSON = re.compile(
    r"(?P<n>[1-9]\d?|[一二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九])(?!\d)(?:岁)?"
    r"(?=[,、。;\s]|$|有|是|得|在|了|多|还|就|出头|来岁)"
)
_COUNTED = re.compile(r"(?:(?P<n>[两二三四五六2-6])个|(?P<n2>[俩仨]))$")
_COUNT_PREFIX = {"俩": 2, "两": 2, "仨": 3}
_BARE_AGE = re.compile(
    r"(?:^|(?<=[,。;\s]))(?P<n>[二三四五六七八九]十[一二三四五六七八九]?|[1-9]\d)(?:岁|了)?(?=[,。;\s]|$)"
)
_AGE_ANYWHERE = re.compile(rf"(?P<n>{NUMBER_PATTERN})\s*(?:周岁|岁)")


@dataclass(slots=True)
class Reading:
    """Slots found in one message, and which ones it named at all."""

    values: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __bool__(self) -> bool:
        return bool(self.values) or self.name is not None


def read_message(
    parse: ParseResult, rules: LeadRules, asked: str | None, norm: str | None = None
) -> Reading:
    """Every slot this message fills, given the question being asked.

    ``norm``: the message already normalised (the turn reader has it); places are read by
    the turn reader, which knows the whole country.
    """
    text = norm if norm is not None else normalize(parse.text)
    reading = Reading()
    # Only what this message says: the flow merges it with what was said before.
    household = _household(parse, text, asked == "household")
    if household:
        reading.values["household"] = household
    income = _income(parse, text, asked == "income")
    if income is not None:
        reading.values["income"] = income
    assistance = _assistance(parse, text, asked == "assistance")
    if assistance is not None:
        reading.values["assistance"] = assistance
        if asked == "income" and income is None and assistance:
            # "就特困供养金": lives on a benefit of an amount not said.
            reading.values["income"] = None
    needs = _needs(parse, text, rules, asked == "needs")
    if needs:
        reading.values["needs"] = needs
    urgency = _urgency(text, rules, asked == "urgency")
    if urgency:
        reading.values["urgency"] = urgency
    phone = parse.first("phone")
    if phone is None and asked == "phone":
        # Asked for a phone, a local landline without its area code will do ("62581234").
        local = re.search(r"(?<!\d)[2-9]\d{6,7}(?!\d)", text)
        phone = local.group(0) if local else None
    if phone is not None:
        reading.values["phone"] = str(phone)
    reading.name = _name(text)
    return reading


def _household(parse: ParseResult, text: str, asked: bool) -> dict[str, Any] | None:
    members, mentions = _members(parse, text, asked)
    ages = [(e.start, int(e.value)) for e in parse.entities if e.entity == "age"]
    if asked:
        # Right after a person's mention, a bare number is an age ("我45、老公47").
        ends = {e.end for e in parse.entities if e.entity == "relation"}
        ends |= {m.end() for m in _I.finditer(text)}
        ends |= {m.end() for m in _ORDINAL.finditer(text)}  # "大的十二 最小的才三岁"
        known = {position for position, _ in ages}
        for end in sorted(ends):
            match = _AGE_AFTER_PERSON.match(text, end)
            n = parse_number(match.group("n")) if match else None
            near_known = any(start <= end < start + 4 for start in known)
            if n is not None and 0 < n <= 110 and end not in known and not near_known:
                ages.append((end, n))
    if not ages and asked:
        ages = [
            (m.start("n"), n)
            for pattern in (_AGE_ANYWHERE, _BARE_AGE)
            for m in pattern.finditer(text)
            if (n := parse_number(m.group("n"))) and 10 <= n <= 110
        ]
    # "没有生病的 也没残疾", "不是糖尿病 是尿毒症": a condition denied is not one.
    conditions = [
        e
        for e in parse.entities
        if e.entity == "condition" and not _DENIED.search(text[max(0, e.start - 3) : e.start])
    ]
    if not members and (ages or conditions):
        # "他一个人 五十 精神分裂": the person spoken of, named earlier; else the writer.
        about_other = _THIRD_PERSON.search(text) and not _I.search(text)
        members.append(_member(_SOMEONE if about_other else "self"))
        mentions.append((0, 0))
    _assign_ages(members, mentions, ages, text)
    _assign_conditions(members, mentions, conditions)
    sizes = [int(v) for v in parse.values("household_size") if isinstance(v, int)]
    if asked and (added := _SIZE_ADDED.search(text)):
        # "本来三个人 加上他四个": the size after someone joins.
        n = parse_number(added.group("n"))
        sizes = [*sizes, n] if n is not None and 0 < n <= 20 else sizes
    # "三口人…不对,是四个人": the last size said is the one meant.
    last = _CORRECTION_WORDS.search(text) or _SIZE_ADDED.search(text)
    size = (sizes[-1] if last else sizes[0]) if sizes else None
    if size is None and len(members) == 1 and _ONLY_ONE.search(text):
        size = 1  # "家里就我妈一个人"
    if size is None and asked:
        number = _SIZE_FIRST.match(text)
        if number and (n := parse_number(number.group("n"))) and 0 < n <= 20:
            size = n  # "五个 我 婆娘 两个娃": the number that opens the answer
        elif (number := re.search(rf"(?P<n>{NUMBER_PATTERN})", text)) and len(text) <= 6:
            n = parse_number(number.group("n"))
            size = n if n is not None and 0 < n <= 20 else None
    if size is None and asked and (total := _SIZE_TOTAL.search(text.strip(" ,。.!"))):
        n = parse_number(total.group("n") or total.group("m"))
        size = n if n is not None and 0 < n <= 20 else None
    if size == 2 and len(members) > 2 and re.search("两口子|老两口", text):
        size = len(members)  # "两口子带俩娃": the couple and the children
    stated = size is not None
    if (
        asked
        and size is not None
        and members
        and len(members) < size
        and not any(m["relation"] == "self" for m in members)
        and not _FOR_SOMEONE.search(text[:10])
    ):
        # "四口人 老公尿毒症 两个娃": the writer is the one not named.
        members.insert(0, _member("self"))
        mentions[:] = [(pos, index + 1) for pos, index in mentions]
    if size is None and len(members) >= 2:
        size = len(members)
    if size is None and not members:
        return None
    if size is None and all(m == _member("self") for m in members):
        return None  # "我是河北的" says who is writing, not who lives with them
    told = _LIVES_WITH.search(text) or any(
        m["age"] is not None or m["conditions"] for m in members
    )
    if not asked and size is None and not told:
        return None  # "老公拿着菜刀追我", "我女儿要交学费": a person named, not a household told
    result: dict[str, Any] = {"answered": asked, "stated": stated or asked}
    if size is not None:
        result["size"] = size
    if members:
        result["members"] = members
    return _with_derived_conditions(result)


def merge_household(
    known: dict[str, Any] | None, new: dict[str, Any], replace: bool = False
) -> dict[str, Any]:
    """What a household reading adds to what was known.

    A correction (``replace``), or an answer to the household question that lists two or
    more people, replaces the members; otherwise people named again are updated, not doubled.
    """
    result: dict[str, Any] = {k: v for k, v in (known or {}).items() if k != "answered"}
    result["stated"] = bool(result.get("stated") or new.get("stated"))
    members = new.get("members")
    if members and result.get("members"):
        members = _carry_over(result["members"], members)
    elif members:
        members = [dict(m, relation="other") if m["relation"] == _SOMEONE else m for m in members]
    if replace:
        # A correction replaces what it names: "是三个人" keeps the people, changes the size.
        if new.get("size") is not None:
            result["size"] = new["size"]
        elif members:
            result["size"] = len(members)
        if members:
            result["members"] = members
        return _with_derived_conditions(result)
    settled = result.get("settled") and not new.get("answered")
    result["settled"] = bool(result.get("settled") or new.get("answered"))
    if (
        new.get("size") is not None
        and not settled
        and (new.get("stated") or result.get("size") is None)
    ):
        # A size counted from people named in passing never overrides one that was said.
        result["size"] = new["size"]
    if members:
        whole = new.get("answered") and len(members) >= 2
        result["members"] = members if whole else _merge_members(result.get("members"), members)
    return _with_derived_conditions(result)


def _carry_over(known: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ages and conditions said earlier stay with the same person in a fuller answer."""
    unused = list(known)
    result = []
    for member in new:
        if member["relation"] == _SOMEONE:
            # "他" is the one person named before, if there is exactly one.
            member = dict(member, relation=known[0]["relation"] if len(known) == 1 else "other")
        same = next((m for m in unused if m["relation"] == member["relation"]), None)
        member = dict(member, conditions=list(member.get("conditions", [])))
        if same is not None:
            unused.remove(same)
            if member.get("age") is None:
                member["age"] = same.get("age")
            member["conditions"] += [
                c for c in same["conditions"] if c not in member["conditions"]
            ]
        result.append(member)
    return result


def _with_derived_conditions(result: dict[str, Any]) -> dict[str, Any]:
    """Conditions that follow from ages and size: minors, and elderly people living alone."""
    for member in result.get("members", []):
        age = member.get("age")
        if age is not None and age < 18 and "minor" not in member["conditions"]:
            member["conditions"].append("minor")
    if result.get("size") == 1:
        for member in result.get("members", []):
            age = member.get("age")
            if age is not None and age >= 60 and "elderly_alone" not in member["conditions"]:
                member["conditions"].append("elderly_alone")
    return result


def _member(relation: str) -> dict[str, Any]:
    return {"relation": relation, "age": None, "conditions": []}


def _members(
    parse: ParseResult, text: str, asked: bool
) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Household members named in the message, and where each is mentioned.

    A relation named twice ("我和我爸,我爸八十二岁") is one person; "两个孙子" is two;
    someone who has died ("老伴前年走了") is not in the household.
    Returns the members and (position, member index) for every mention.
    """
    members: list[dict[str, Any]] = []
    mentions: list[tuple[int, int]] = []
    surfaces: dict[int, tuple[str, str]] = {}
    relations = [e for e in parse.entities if e.entity == "relation"]
    taken = [(e.start, e.end) for e in relations]
    for entity in relations:
        if _DECEASED.match(text, entity.end):
            continue
        relation = str(entity.value)
        # The same word names the same person ("我爸…我爸八十二岁"); 儿子 and 女儿 are two.
        surface = text[entity.start : entity.end].lstrip("我俺")
        surface = _SAME_PERSON.get(surface, surface)
        # 俩娃, 两个娃, 仨娃; but 两口子 is one spouse (and the writer).
        count = _COUNT_PREFIX.get(surface[:1], 1) if relation != "spouse" else 1
        parts = _PAIRS.get(surface)
        if parts is not None:
            # "爷爷奶奶", "爸妈": two people, each named again later by their own word.
            for part in parts:
                if (relation, part) in surfaces.values():
                    continue
                members.append(_member(relation))
                surfaces[len(members) - 1] = (relation, part)
                mentions.append((entity.start, len(members) - 1))
            continue
        counted = _COUNTED.search(text[max(0, entity.start - 3) : entity.start])
        if counted and relation != "self":
            word = counted.group("n") or {"俩": "两", "仨": "三"}[counted.group("n2")]
            count = min(parse_number(word) or 1, 6)
        existing = [i for i, m in enumerate(members) if surfaces.get(i) == (relation, surface)]
        if relation == "spouse" and not existing:
            # One spouse, whatever the words ("两口子…我老婆", "老公…男人").
            existing = [i for i, m in enumerate(members) if m["relation"] == "spouse"]
        if existing and count <= len(existing):
            mentions.append((entity.start, existing[0]))
            continue
        for _ in range(count - len(existing)):
            members.append(_member(relation))
            surfaces[len(members) - 1] = (relation, surface)
            mentions.append((entity.start, len(members) - 1))
    # "帮我爸问一下,他一个人住": the writer asks for someone else and is not a member.
    for_someone = bool(_FOR_SOMEONE.search(text[:10])) and not _SELF.search(text)
    speaks_of_self = not for_someone and any(
        not any(start <= m.start() < end for start, end in taken) for m in _I.finditer(text)
    )
    # Answering "who lives with you?", a resident who says 我 is one of them.
    if (
        (asked and speaks_of_self)
        or _SELF.search(text)
        or any(e.value == "self" for e in relations)
    ):
        self_index = next((i for i, m in enumerate(members) if m["relation"] == "self"), None)
        if self_index is None:
            members.insert(0, _member("self"))
            mentions = [(pos, index + 1) for pos, index in mentions]
            self_index = 0
        for match in _I.finditer(text):
            if not any(start <= match.start() < end for start, end in taken):
                mentions.append((match.start(), self_index))
    mentions.sort()
    return members, mentions


def _merge_members(
    known: list[dict[str, Any]] | None, new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Later messages add to the household: a member named again is updated, not doubled."""
    merged = [dict(m, conditions=list(m.get("conditions", []))) for m in known or []]
    for member in new:
        same = next((m for m in merged if m["relation"] == member["relation"]), None)
        if same is None:
            merged.append(member)
            continue
        if member.get("age") is not None:
            same["age"] = member["age"]
        same["conditions"] += [c for c in member["conditions"] if c not in same["conditions"]]
    return merged


def _assign_ages(
    members: list[dict[str, Any]],
    mentions: list[tuple[int, int]],
    ages: list[tuple[int, int]],
    text: str,
) -> None:
    """Each age goes to the person mentioned just before it; "都七十多了" to everyone."""
    if not members or not ages:
        return
    if len(ages) == 1 and len(members) > 1 and _ALL.search(text):
        for member in members:
            member["age"] = ages[0][1]
        return
    for position, age in sorted(ages):
        before = [(pos, index) for pos, index in mentions if pos <= position]
        target = 0
        if before:
            # The latest mention; of several people named there ("两个孩子"), the first
            # one still without an age.
            latest = before[-1][0]
            named = [index for pos, index in before if pos == latest]
            target = next((i for i in named if members[i]["age"] is None), named[-1])
        relation = members[target]["relation"]
        # "孙子一个十岁一个七岁": later ages go to the next person of the same relation.
        same = [i for i, m in enumerate(members) if m["relation"] == relation and m["age"] is None]
        if members[target]["age"] is not None and same:
            target = same[0]
        members[target]["age"] = age


def _assign_conditions(
    members: list[dict[str, Any]], mentions: list[tuple[int, int]], conditions: list[Entity]
) -> None:
    for condition in conditions:
        before = [index for pos, index in mentions if pos <= condition.start]
        target = members[before[-1] if before else 0]
        if condition.value not in target["conditions"]:
            target["conditions"].append(str(condition.value))


def _income(parse: ParseResult, text: str, asked: bool) -> int | None:
    if _NO_INCOME_ANYWHERE.search(text) or (asked and _NO_INCOME.search(text.strip(" ,。."))):
        return 0
    items: list[Entity] = []
    for entity in parse.entities:
        if entity.entity != "money" or not isinstance(entity.value, int):
            continue
        window = text[max(0, entity.start - 8) : entity.start]
        if _EXPENSE_CUES.search(window[-4:]):
            continue
        if asked or _INCOME_CUES.search(window) or items:
            items.append(entity)
    if items:
        return _monthly_total(items, text)
    if asked and parse.first("household_size") is None:
        number = re.search(rf"(?P<n>{NUMBER_PATTERN})(?!\s*(?:口|个人|人|岁))", text)
        value = parse_number(number.group("n")) if number else None
        # A bare number below ten ("等一下") is not an income.
        if value is not None and value >= 10:
            year = "year" in parse.values("period")
            return round(value / 12) if year else value
    return None


def _monthly_total(items: list[Entity], text: str) -> int:
    """Several amounts as one monthly income.

    "我三千 她两千五 加起来五千五": a total said after the parts is the answer. "两千,不对,
    三千": a correction keeps the last. "不到四千 三千八九": a bound gives way to a figure.
    Each amount is read in its own period: "一个月两千 地租一年三千六" is 2000 + 300.
    """
    last = items[-1]
    if len(items) > 1 and _TOTAL_CUE.search(text[max(0, last.start - 6) : last.start]):
        return _per_month(last, text)
    if _CORRECTION_WORDS.search(text):
        return _per_month(last, text)
    figures = [e for e in items if not _BOUND_CUE.search(text[max(0, e.start - 3) : e.start])]
    if len(figures or items) == 1 and _YEARLY.search(text):
        # One amount in a message about a year ("一年到头也就卖猪挣个一万二").
        return round(int((figures or items)[0].value) / 12)
    return sum(_per_month(e, text) for e in figures or items)


def _per_month(entity: Entity, text: str) -> int:
    value = int(entity.value)
    before = text[max(0, entity.start - 6) : entity.start]
    after = text[entity.end : entity.end + 4]
    if _YEARLY.search(before) or _YEARLY.match(after.lstrip()):
        return round(value / 12)
    if _DAILY.search(before):
        days = _DAYS_WORKED.search(text)
        worked = parse_number(days.group("n")) if days else None
        return value * (worked if worked and 0 < worked <= 31 else 22)
    if _WEEKLY.search(before):
        return round(value * 4.3)
    return value


def _assistance(parse: ParseResult, text: str, asked: bool) -> list[str] | None:
    receiving = []
    for entity in parse.entities:
        if entity.entity == "policy":
            window = text[max(0, entity.start - 6) : entity.start]
            if _NOT_RECEIVING_CUE.search(window):
                continue
            lives_on = text[entity.end : entity.end + 1] in {"金", "钱", "费"}  # 特困供养金
            if asked or lives_on or _RECEIVING_CUE.search(window):
                receiving.append(str(entity.value))
    if receiving and (_NOT_GRANTED.search(text) or _NOW_NONE.search(text)):
        return []  # "申请过低保没批,现在没有"
    if receiving:
        return list(dict.fromkeys(receiving))
    stripped = re.sub(r"[\s,。.!!?]+", "", text)
    if asked and (_NONE.search(stripped) or _NOT_GRANTED.search(text) or _NOW_NONE.search(text)):
        return []
    if asked and _YES_ONLY.match(stripped):
        return ["other"]
    if re.search(r"没有?(?:领|吃|享受|申请)(?:过)?(?:任何)?(?:救助|补助|低保)", text):
        return []
    return None


def _needs(
    parse: ParseResult, text: str, rules: LeadRules, asked: bool
) -> list[dict[str, str]] | None:
    categories = [c for c in rules.needs_in(text) if not _need_denied(text, rules, c)]
    if categories:
        return [{"category": c, "detail": _clause(parse.text, rules, c)} for c in categories]
    stripped = re.sub(r"[\s,。.!!?]+", "", text)
    if asked and stripped and not _NONE.match(stripped):
        return [{"category": "other", "detail": redact(parse.text.strip())[:80]}]
    return None


def _need_denied(text: str, rules: LeadRules, category: str) -> bool:
    """Every mention of the need is denied ("主要是看病 不是吃饭", "不是上学的事")."""
    starts = [
        m.start()
        for word in rules.need_words.get(category, ())
        for m in re.finditer(re.escape(word), text)
    ]
    return bool(starts) and all(_DENIED.search(text[max(0, i - 3) : i]) for i in starts)


def _clause(raw: str, rules: LeadRules, category: str) -> str:
    """The part of the message that speaks of this need, in the resident's own words."""
    clauses = [c for c in re.split(r"[,。;!?\n，；！？]", raw) if c.strip()]
    for clause in clauses:
        if rules.needs_in(normalize(clause)) and category in rules.needs_in(normalize(clause)):
            return redact(clause.strip())[:80]
    return redact(raw.strip())[:80]


def _urgency(text: str, rules: LeadRules, asked: bool) -> str | None:
    for pattern, value in _EXPLICIT_URGENCY:
        if pattern.search(text):
            return value
    if asked:
        for pattern, value in ((_LATER, "later"), (_SOON, "soon"), (_URGENT, "urgent")):
            if pattern.search(text):
                return value
    if rules.is_urgent(text):
        return "urgent"
    return None


def _name(text: str) -> str | None:
    match = _NAME.search(text)
    if match:
        return match.group("surname") + (match.group("suffix") or "")
    full = _NAME_FULL.search(text)
    return full.group("name") if full else None
