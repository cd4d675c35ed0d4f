"""Places anywhere in mainland China, read from resident text.

The administrative divisions come from the CSV shipped in the ``cpca`` package
(``cpca/resources/adcodes.csv``: province, prefecture and county level, 12-digit adcodes). The
package itself is never imported — its ``__init__`` loads pandas — the file is found through
``importlib`` and read once with the ``csv`` module.

Reading is a single left-to-right scan: at each position the text's next 2 characters pick the
lengths of the names that start with them, and the longest name found in a dict wins (at most
``_MAX_KEY`` look-ups per position, so the time is linear in the text length). Names that follow
each other ("河北邯郸丛台区", "四川凉山昭觉县") form one chain, read from the top down; a town or
street written right after the chain ("丛台区中华街道") is read by its suffix (街道/镇/乡).

Full names (河北省, 邯郸市, 丛台区) are always read. Short names (河北, 广西, 邯郸, 凉山) are read
for provinces and prefecture-level cities, except that those which are everyday words
(:data:`EVERYDAY_SHORT_NAMES`) need a cue before them (在, 是, 老家 …), a suffix after them
(人, 那边 …) or a neighbouring province/city/district of their own. Nothing is read inside the
phrases of :data:`EVERYDAY_PHRASES` (长春藤, 三明治 …).
"""

from __future__ import annotations

import csv
import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Short names of prefectures that are, or often are part of, everyday words: 身体安康, 大同小异,
# 东方红, 中山装, 白山黑水, 长治久安, 四平八稳, 日照充足, 开封了, 玉树临风, 阿里巴巴, 普洱茶,
# 来宾 (guest), 白银 (silver), 朝阳 (morning sun), 中卫 (centre-back) … and mountains or rivers
# that a resident names without meaning the prefecture (黄山, 红河, 怒江). They are read only
# with a cue before (在|是|住|来自|老家|户口|回|到|从), a suffix after (市|那边|这边|的人|人) or a
# province/city/district of their own next to them ("安徽黄山", "大同平城区").
EVERYDAY_SHORT_NAMES = frozenset(
    {
        "安康", "大同", "东方", "中山", "白山", "黄山", "长治", "四平", "日照", "开封",
        "玉树", "阿里", "普洱", "来宾", "白银", "朝阳", "中卫", "红河", "怒江", "包头",
        "和田", "山南", "兴安", "大理", "北海", "天门", "仙桃", "文山", "五指山", "神农架",
        "吉安", "金华", "三明", "海口", "通化",
    }
)  # fmt: skip

# County-level names whose stem is an everyday word that the suffix often follows: 比如县里,
# 长子县城, 西南部县城, 公安县局, 会同县民政局, 不富裕县里, 相应城市, 合作市里, 解放区 (the
# liberated areas). They need the same support as the short names above.
EVERYDAY_COUNTY_NAMES = frozenset(
    {
        "比如县", "长子县", "南部县", "公安县", "会同县", "富裕县", "大方县", "资源县",
        "延长县", "中方县", "应城市", "合作市", "港口区", "解放区", "平安区", "前进区",
        "友好区",
    }
)  # fmt: skip

# County-level names that are everyday words of their own (城区 = downtown, 郊区 = suburbs,
# 矿区 = mining area, 新县城 = the new county town): read only right after their own city
# ("阳泉郊区", "攀枝花市东区").
GENERIC_DISTRICT_NAMES = frozenset({"城区", "矿区", "郊区", "东区", "西区", "新县"})

# Phrases inside which no place is read, although they contain a place name.
EVERYDAY_PHRASES = (
    "身体安康", "大同小异", "世界大同", "东方红", "东方人", "中山装", "中山路", "中山公园",
    "白山黑水", "长治久安", "四平八稳", "玉树临风", "阿里巴巴", "普洱茶", "长春藤", "四季长春",
    "万古长春", "长沙发", "三明治", "哈密瓜", "大理石", "北海道", "德州扑克", "平安顺利",
    "一路平安顺", "夸下海口", "海口夸", "黄石公园", "东躲西藏", "和田玉", "山南海北",
    "江西岸", "江北岸", "河北岸", "河南岸", "复合肥", "歌乐山", "长春花", "仁者乐山",
    "天水泥", "一天水",
)  # fmt: skip

# Changes since cpca's snapshot (late 2016) that residents write today: old adcode → (current
# name, current adcode when it moved). The old name is still read, as the current division.
UPDATES: dict[str, tuple[str, str | None]] = {
    "510124000000": ("郫都区", None),
    "610125000000": ("鄠邑区", None),
    "370181000000": ("章丘区", None),
    "360721000000": ("赣县区", None),
    "330185000000": ("临安区", None),
    "350182000000": ("长乐区", None),
    "370282000000": ("即墨区", None),
    "520222000000": ("盘州市", None),
    "500228000000": ("梁平区", None),
    "500232000000": ("武隆区", None),
    "540126000000": ("达孜区", None),
    "130223000000": ("滦州市", None),
    "450331000000": ("荔浦市", None),
    "420821000000": ("京山市", None),
    "510922000000": ("射洪市", None),
    "370125000000": ("济阳区", None),
    "320684000000": ("海门区", None),
    "370684000000": ("蓬莱区", None),
    "361121000000": ("广信区", None),
    "542400000000": ("那曲市", None),
    "542421000000": ("色尼区", None),
    "140624000000": ("怀仁市", None),
    "130823000000": ("平泉市", None),
    "430124000000": ("宁乡市", None),
    "331021000000": ("玉环市", None),
    "610427000000": ("彬州市", None),
    "610623000000": ("子长市", None),
    "513425000000": ("会理市", None),
    # 2018: the districts of 大同市 and 长治市 were redrawn.
    "140202000000": ("平城区", "140213000000"),
    "140203000000": ("平城区", "140213000000"),
    "140211000000": ("云冈区", "140214000000"),
    "140227000000": ("云州区", "140215000000"),
    "140402000000": ("潞州区", "140403000000"),
    "140411000000": ("潞州区", "140403000000"),
    "140421000000": ("上党区", "140404000000"),
    "140424000000": ("屯留区", "140405000000"),
    "140481000000": ("潞城区", "140406000000"),
    # 2019: 莱芜市 was merged into 济南市; 莱城区 became 莱芜区.
    "371200000000": ("莱芜区", "370116000000"),
    "371202000000": ("莱芜区", "370116000000"),
    "371203000000": ("钢城区", "370117000000"),
}

# Colloquial names that the data does not derive, mapped to the official name.
ALIASES = {"内蒙": "内蒙古自治区", "莱芜": "莱芜区"}

# Words right before a short everyday name that make it a place ("我是安康的", "回大同").
_CUES_BEFORE = ("住在", "来自", "老家", "户口", "在", "是", "住", "回", "到", "从")
# Words right after a short everyday name that make it a place ("安康人", "大同那边"), but not
# 人大/人民 ("担任县人大代表" names no 任县).
_CUES_AFTER = ("市", "那边", "这边", "的人", "人")
_NOT_CUES_AFTER = ("人大", "人民")
# A name's last character followed by the next one makes another word: 西湖区域 (an area),
# 合作市场 (a market). The shorter name is tried instead ("邯郸市场" → 邯郸).
_NOT_A_SUFFIX = frozenset({"区域", "市场"})
# What may stand between two names of one chain ("河北 邯郸", "河北省,邯郸市").
_SEPARATORS = frozenset(" ,，、·-/")
_MAX_GAP = 2

# Ethnic groups in the names of autonomous regions and prefectures; the short name is what
# comes before the first of them ("凉山彝族自治州" → 凉山, "广西壮族自治区" → 广西).
_ETHNIC_GROUPS = (
    "彝", "藏", "羌", "回", "苗", "侗", "土家", "布依", "朝鲜", "蒙古", "哈萨克", "柯尔克孜",
    "傣", "景颇", "傈僳", "白", "哈尼", "壮", "维吾尔",
)  # fmt: skip
_SHORT_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "林区", "省", "市", "盟")
# Placeholder rows of the data that name no place.
_PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

# Towns and streets: a name of 2–6 characters, then 街道, 镇 or 乡 ("柏树街道", "太和镇").
_STREET_MIN_NAME = 2
_STREET_MAX_NAME = 6
_STREET_NAME_STOP = frozenset("的了在是我你他她们住去从这那哪个也都就还没不很要想吗呢吧啊")
# 乡下 (countryside), 乡村 (village), 镇上 is fine: "柏树镇上" still names the town.
_STREET_NOT_BEFORE = frozenset("下村")

# Support that a name needs before it is taken as a place.
_ALWAYS = 0  # read wherever it stands
_CUED = 1  # needs a cue, a suffix or a neighbouring name of its own
_CHAINED = 2  # needs its own city or province right before it

_MAX_KEY = 16


@dataclass(frozen=True, slots=True)
class Place:
    """A place read from resident text.

    Attributes:
        province: Official province-level name with its suffix (河北省, 广西壮族自治区, 上海市),
            or None when the text does not decide it.
        city: Prefecture-level name (邯郸市, 凉山彝族自治州); for 北京/上海/天津/重庆 the
            province name. None when not said and not implied, and for county-level cities
            that report to their province directly (仙桃市, 济源市).
        district: County-level name (丛台区, 昭觉县, 射洪市), or None.
        street: A 街道/镇/乡 written right after the district or city (柏树街道), or None.
        start: Start of the span of text that was read.
        end: End (exclusive) of that span.
    """

    province: str | None
    city: str | None
    district: str | None
    street: str | None
    start: int
    end: int


@dataclass(frozen=True, slots=True, eq=False)  # one object per division: compared by identity
class _Division:
    code: str
    name: str
    level: int  # 1 province, 2 prefecture, 3 county
    province: str  # adcode of the province
    city: str | None  # adcode of the prefecture, None for provinces and direct counties


@dataclass(frozen=True, slots=True)
class _Entry:
    divisions: tuple[_Division, ...]
    support: int


# A name found in the text: start, end, the divisions it may stand for, and whether it
# stands as a place on its own (a plain tuple: there are many, and they live briefly).
_Mention = tuple[int, int, tuple[_Division, ...], bool]


@dataclass(slots=True)
class _Chain:
    """Names that follow each other, read from the top down ("河北邯郸丛台区")."""

    start: int
    end: int
    divisions: tuple[_Division, ...]  # candidates for the most specific name of the chain
    cued: bool  # the first name stands as a place on its own
    single: bool = True  # one name only
    street: str | None = None


def adcodes_path() -> Path:
    """Path of ``adcodes.csv`` in the installed ``cpca`` package, found without importing it.

    Raises:
        FileNotFoundError: When ``cpca`` is not installed or ships no such file.
    """
    spec = importlib.util.find_spec("cpca")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        raise FileNotFoundError("the cpca package is not installed (pip install cpca==0.5.5)")
    path = Path(next(iter(locations))) / "resources" / "adcodes.csv"
    if not path.is_file():
        raise FileNotFoundError(f"cpca ships no {path}")
    return path


def _read_divisions(path: Path) -> tuple[dict[str, _Division], dict[str, tuple[str, ...]]]:
    """The divisions by adcode, and the adcodes each former name stands for (郫县 → 郫都区).

    A former prefecture that is now a district stands for both ("莱芜市" → 莱芜区 and 济南市),
    so that "莱芜市钢城区" still reads 钢城区.
    """
    rows: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            code, name = row["adcode"].strip(), row["name"].strip()
            if len(code) == 12 and code.isdigit() and name and name not in _PLACEHOLDERS:
                rows[code] = name
    former: dict[str, tuple[str, ...]] = {}
    for old, (name, moved) in UPDATES.items():
        if old in rows:
            new = moved or old
            was_city = old[4:] == "0" * 8 and new[4:] != "0" * 8
            codes = (new, new[:4] + "0" * 8) if was_city else (new,)
            old_name = rows.pop(old)
            former[old_name] = tuple(dict.fromkeys(former.get(old_name, ()) + codes))
            rows[new] = name
    divisions: dict[str, _Division] = {}
    for code, name in rows.items():
        province = code[:2] + "0" * 10
        city = code[:4] + "0" * 8
        if code == province:
            divisions[code] = _Division(code, name, 1, province, None)
        elif code == city:
            divisions[code] = _Division(code, name, 2, province, None)
        elif code[6:] == "0" * 6:
            divisions[code] = _Division(code, name, 3, province, city if city in rows else None)
    return divisions, former


def _short_name(name: str) -> str | None:
    """The name without its suffix and ethnic groups, or None when it has no shorter form."""
    for i in range(2, len(name) if "族" in name or "自治" in name else 0):
        for group in _ETHNIC_GROUPS:
            if name.startswith(group, i):
                rest = name[i + len(group) :]
                if rest.startswith(("族", "自治")):
                    return name[:i]
    for suffix in _SHORT_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def _build_entries(
    divisions: dict[str, _Division], former: dict[str, tuple[str, ...]]
) -> dict[str, _Entry]:
    full: dict[str, list[_Division]] = {}
    short: dict[str, list[_Division]] = {}
    for division in divisions.values():
        full.setdefault(division.name, []).append(division)
        # Short names: provinces, prefectures, and county-level cities that report to their
        # province directly and so stand for a city (仙桃, 济源, 石河子, 神农架).
        direct_city = division.level == 3 and division.city is None
        if division.level < 3 or (direct_city and division.name.endswith(("市", "林区"))):
            name = _short_name(division.name)
            if name is not None:
                short.setdefault(name, []).append(division)
            if name is not None and division.name.endswith("自治州"):
                short.setdefault(name + "州", []).append(division)  # 凉山州, 恩施州
    for old_name, codes in former.items():
        found = full.setdefault(old_name, [])
        found.extend(divisions[c] for c in codes if c in divisions and divisions[c] not in found)
    for alias, official in ALIASES.items():
        if len(full.get(official, ())) == 1:
            short.setdefault(alias, []).extend(full[official])
    entries: dict[str, _Entry] = {}
    for key, found in full.items():
        if key in GENERIC_DISTRICT_NAMES:
            support = _CHAINED
        elif len(key) <= 2 or key in EVERYDAY_COUNTY_NAMES:
            support = _CUED  # 和县, 单县, 易县: one character and a suffix
        else:
            support = _ALWAYS
        entries[key] = _Entry(tuple(found), support)
    for key, found in short.items():
        if key in entries:
            continue  # a full name wins over a short one
        provinces = [d for d in found if d.level == 1]
        chosen = provinces or found  # 吉林, 海南: the province rather than the prefecture
        support = _CUED if key in EVERYDAY_SHORT_NAMES else _ALWAYS
        entries[key] = _Entry(tuple(chosen), support)
    return entries


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


class PlaceFinder:
    """Finds the place a resident names in a message."""

    __slots__ = ("_agreed", "_divisions", "_entries", "_fields", "_lengths", "_phrases")

    def __init__(
        self, divisions: dict[str, _Division], former: dict[str, tuple[str, ...]]
    ) -> None:
        """Build the indexes; use :meth:`load` rather than this.

        Args:
            divisions: The divisions by adcode.
            former: The adcodes each former name that is still read stands for.
        """
        self._divisions = divisions
        self._entries = _build_entries(divisions, former)
        self._fields = {code: self._names(d) for code, d in divisions.items()}
        # what several candidates agree on, by candidates (a few hundred sets at most: the
        # ambiguous names and the subsets that a neighbouring name narrows them to)
        self._agreed: dict[tuple[_Division, ...], tuple[str | None, str | None, str | None]] = {}
        lengths: dict[str, set[int]] = {}
        for key in self._entries:
            if 2 <= len(key) <= _MAX_KEY:
                lengths.setdefault(key[:2], set()).add(len(key))
        self._lengths = {p: tuple(sorted(ls, reverse=True)) for p, ls in lengths.items()}
        # key → (offset of the key in the phrase, phrase) for every key inside a phrase
        phrases: dict[str, list[tuple[int, str]]] = {}
        for phrase in EVERYDAY_PHRASES:
            for i in range(len(phrase)):
                for j in range(i + 2, len(phrase) + 1):
                    if phrase[i:j] in self._entries:
                        phrases.setdefault(phrase[i:j], []).append((i, phrase))
        self._phrases = phrases

    @classmethod
    def load(cls) -> PlaceFinder:
        """The finder over cpca's division list, built once and shared.

        Raises:
            FileNotFoundError: When the ``cpca`` package or its data file is missing.
        """
        global _FINDER
        if _FINDER is None:
            with _LOCK:
                if _FINDER is None:
                    _FINDER = cls(*_read_divisions(adcodes_path()))
        return _FINDER

    def find(self, text: str) -> Place | None:
        """The most specific place named in ``text``, or None.

        Args:
            text: Normalised text (simplified characters, half-width).

        Returns:
            The place of the chain of names that says the most (province, city, district,
            street), the earliest on a tie; None when the text names no place.
        """
        chains = self._chains(text, self._mentions(text))
        if not chains:
            return None
        self._disambiguate(chains)
        best: tuple[str | None, str | None, str | None] = (None, None, None)
        best_chain, best_score = chains[0], -1
        for chain in chains:
            fields = self._fields_of(chain.divisions)
            score = sum(f is not None for f in fields) + (chain.street is not None)
            if score > best_score:  # the earliest of equal scores
                best, best_chain, best_score = fields, chain, score
        province, city, district = best
        return Place(province, city, district, best_chain.street, best_chain.start, best_chain.end)

    def _mentions(self, text: str) -> list[_Mention]:
        mentions: list[_Mention] = []
        lengths, entries = self._lengths, self._entries
        n = len(text)
        i = 0
        while i < n - 1:
            step = 1
            for length in lengths.get(text[i : i + 2], ()):
                end = i + length
                if end > n:
                    continue
                key = text[i:end]
                entry = entries.get(key)
                if entry is None or (key in self._phrases and self._inside_phrase(text, i, key)):
                    continue
                if text[end - 1 : end + 1] in _NOT_A_SUFFIX:
                    continue  # 西湖区域, 合作市场: the suffix belongs to the next word
                support = entry.support
                cued = support == _ALWAYS or (support == _CUED and _cued(text, i, end))
                mentions.append((i, end, entry.divisions, cued))
                step = length
                break
            i += step
        return mentions

    def _inside_phrase(self, text: str, i: int, key: str) -> bool:
        for offset, phrase in self._phrases[key]:
            if i >= offset and text.startswith(phrase, i - offset):
                return True
        return False

    def _chains(self, text: str, mentions: Sequence[_Mention]) -> list[_Chain]:
        chains: list[_Chain] = []
        current: _Chain | None = None
        read_to = 0  # end of the last closed chain and its street
        for start, end, divisions, cued in mentions:
            if current is not None:
                if _adjacent(text, current.end, start):
                    narrowed = _below(current.divisions, divisions)
                    if narrowed:
                        current.divisions = narrowed
                        current.end = end
                        current.single = False
                        continue
                read_to = self._close(text, current, chains)
                current = None
            if start >= read_to:  # else it is part of the street before
                current = _Chain(start, end, divisions, cued)
        if current is not None:
            self._close(text, current, chains)
        return chains

    def _close(self, text: str, chain: _Chain, chains: list[_Chain]) -> int:
        """Finish ``chain``: read its street, keep it if it stands; return where it ends."""
        if chain.single and not chain.cued:
            return chain.end
        # A street follows a city or a district, and 北京/上海/天津/重庆 are cities too.
        if all(d.level > 1 or self._fields[d.code][1] is not None for d in chain.divisions):
            street = _street_at(text, chain.end)
            if street is not None:
                chain.street = street
                chain.end += len(street)
        chains.append(chain)
        return chain.end

    @staticmethod
    def _disambiguate(chains: Sequence[_Chain]) -> None:
        """Narrow an ambiguous name (朝阳区) by a place named elsewhere in the text."""
        anchors = {c.divisions[0] for c in chains if len(c.divisions) == 1}
        if not anchors or len(anchors) == len(chains):
            return
        codes = {a.code for a in anchors}
        cities = {a.city for a in anchors if a.city is not None}
        provinces = {a.province for a in anchors}
        relations: tuple[Callable[[_Division], bool], ...] = (
            lambda d: d.city in codes or (d.level > 1 and d.province in codes),
            lambda d: d.city in cities,
            lambda d: d.province in provinces,
        )
        for chain in chains:
            if len(chain.divisions) < 2:
                continue
            for relation in relations:
                narrowed = tuple(d for d in chain.divisions if relation(d))
                if len(narrowed) == 1:
                    chain.divisions = narrowed
                    break

    def _fields_of(
        self, divisions: tuple[_Division, ...]
    ) -> tuple[str | None, str | None, str | None]:
        """Province, city and district that all of ``divisions`` agree on."""
        if len(divisions) == 1:
            return self._fields[divisions[0].code]
        agreed = self._agreed.get(divisions)
        if agreed is None:
            columns = zip(*(self._fields[d.code] for d in divisions), strict=True)
            province, city, district = (_common(column) for column in columns)
            agreed = self._agreed[divisions] = (province, city, district)
        return agreed

    def _names(self, division: _Division) -> tuple[str | None, str | None, str | None]:
        province = self._divisions[division.province].name
        if division.level == 2:
            city: str | None = division.name
        elif division.city is not None:
            city = self._divisions[division.city].name
        elif province.endswith("市"):  # 北京市, 上海市, 天津市, 重庆市
            city = province
        else:
            city = None  # a province, or a county-level city under it (仙桃市)
        return province, city, division.name if division.level == 3 else None


_FINDER: PlaceFinder | None = None
_LOCK = threading.Lock()


def _common(values: tuple[str | None, ...]) -> str | None:
    first = values[0]
    return first if all(v == first for v in values) else None


def _below(upper: tuple[_Division, ...], lower: tuple[_Division, ...]) -> tuple[_Division, ...]:
    """The divisions of ``lower`` that lie inside one of ``upper``."""
    codes = {u.code for u in upper}
    return tuple(d for d in lower if d.city in codes or (d.level > 1 and d.province in codes))


def _adjacent(text: str, end: int, start: int) -> bool:
    if start == end:
        return True
    return start - end <= _MAX_GAP and all(c in _SEPARATORS for c in text[end:start])


def _cued(text: str, start: int, end: int) -> bool:
    """True when a cue stands right before ``start`` or right after ``end``."""
    if text.startswith(_CUES_AFTER, end) and not text.startswith(_NOT_CUES_AFTER, end):
        return True
    return text.endswith(_CUES_BEFORE, 0, start)


def _street_at(text: str, start: int) -> str | None:
    """A town or street name (柏树街道, 太和镇, 新华路街道) starting at ``start``, or None."""
    window = text[start + _STREET_MIN_NAME : start + _STREET_MAX_NAME + 1]
    if "街" not in window and "镇" not in window and "乡" not in window:
        return None
    for k in range(start, min(start + _STREET_MAX_NAME, len(text))):
        char = text[k]
        if not _is_cjk(char) or char in _STREET_NAME_STOP:
            return None
        if k - start + 1 < _STREET_MIN_NAME:
            continue
        if text.startswith("街道", k + 1):
            return text[start : k + 3]
        after = text[k + 1 : k + 2]
        if after in ("镇", "乡") and text[k + 2 : k + 3] not in _STREET_NOT_BEFORE:
            return text[start : k + 2]
    return None
