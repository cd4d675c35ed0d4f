"""Typed content of the knowledge base."""

from __future__ import annotations

from dataclasses import dataclass, field

POLICY_IDS = (
    "dibao",
    "tekun",
    "dishouru",
    "zhichuxing",
    "yiliao",
    "jiaoyu",
    "zhufang",
    "jiuye",
    "shouzai",
    "linshi",
    "liulang",
    "canji",
    "ertong",
    "falv",
    "binzang",
    "xinli",
    "cishan",
)
ASPECTS = (
    "overview",
    "eligibility",
    "benefit",
    "materials",
    "process",
    "duration",
    "recheck",
    "contact",
)
NEED_CATEGORIES = (
    "basic_living",
    "medical",
    "education",
    "housing",
    "employment",
    "psychological",
    "care",
    "legal",
    "disaster",
    "funeral",
    "other",
)


@dataclass(frozen=True, slots=True)
class Source:
    """A document the knowledge base may cite."""

    id: str
    title: str
    issuer: str
    date: str
    number: str = ""
    seed: str = ""


@dataclass(frozen=True, slots=True)
class Citation:
    """A section of a source document."""

    source: Source
    section: str

    def render(self) -> str:
        """Human-readable reference, e.g. 《社会救助暂行办法》第二章."""
        return f"《{self.source.title}》{self.section}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A short answer to one aspect of one policy, with where it comes from."""

    text: str
    cite: tuple[Citation, ...]

    def references(self) -> str:
        """The answer's sources, e.g. 《社会救助暂行办法》第二章;《…》三(二)4."""
        return ";".join(c.render() for c in self.cite)


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy of the contract's catalogue."""

    id: str
    name: str
    aliases: tuple[str, ...]
    needs: tuple[str, ...]
    answers: dict[str, Answer]


@dataclass(frozen=True, slots=True)
class District:
    """A district (or city) and the streets/towns in it."""

    name: str
    streets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Region:
    """A local overlay: who helps, where to go, and answers that differ locally."""

    id: str
    name: str
    districts: tuple[District, ...]
    helper_title: str
    office: str
    hotline: str
    cite: tuple[Citation, ...] = ()
    answers: dict[str, dict[str, Answer]] = field(default_factory=dict)
    street_office: str = ""  # e.g. "{street}社区事务受理服务中心": the nearest office by street
