"""Load and validate the knowledge base: every file, every key, every citation."""

from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import Any

from knowledge.base import KnowledgeBase
from knowledge.errors import KnowledgeError
from knowledge.files import read_mapping
from knowledge.schema import (
    ASPECTS,
    NEED_CATEGORIES,
    POLICY_IDS,
    Answer,
    Citation,
    District,
    Policy,
    Region,
    Source,
)

KNOWLEDGE_DIR = Path(__file__).parent
_POLICY_KEYS = {"id", "name", "aliases", "needs", "answers"}
_REGION_KEYS = {
    "id",
    "name",
    "districts",
    "helper_title",
    "office",
    "street_office",
    "hotline",
    "cite",
    "answers",
}
_SOURCE_KEYS = {"title", "issuer", "date", "number", "seed"}
# Placeholders an answer may use; the engine fills them with the resident's region.
PLACEHOLDERS = {"office", "hotline", "helper_title"}


def _check_keys(path: Path, where: str, mapping: object, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise KnowledgeError(f"{path}: {where}: must be a mapping")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise KnowledgeError(f"{path}: {where}: unknown key {unknown[0]!r}")
    return mapping


def _text(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise KnowledgeError(f"{path}: {where}: must be non-empty text")
    return str(value).strip()


def load_sources(path: Path) -> dict[str, Source]:
    """Read ``sources.yml``."""
    document = read_mapping(path)
    sources: dict[str, Source] = {}
    for source_id, entry in (document.get("sources") or {}).items():
        entry = _check_keys(path, f"sources.{source_id}", entry, _SOURCE_KEYS)
        for key in ("title", "issuer", "date"):
            if key not in entry:
                raise KnowledgeError(f"{path}: sources.{source_id}: missing key {key!r}")
        sources[source_id] = Source(
            id=source_id,
            title=_text(path, f"sources.{source_id}.title", entry["title"]),
            issuer=_text(path, f"sources.{source_id}.issuer", entry["issuer"]),
            date=str(entry["date"]),
            number=str(entry.get("number", "")),
            seed=str(entry.get("seed", "")),
        )
    return sources


def _citations(
    path: Path, where: str, raw: object, sources: dict[str, Source]
) -> tuple[Citation, ...]:
    if not isinstance(raw, list) or not raw:
        raise KnowledgeError(f"{path}: {where}: missing sources ('cite' must list at least one)")
    cites = []
    for index, item in enumerate(raw):
        item = _check_keys(path, f"{where}[{index}]", item, {"source", "section"})
        source_id = str(item.get("source", ""))
        if source_id not in sources:
            raise KnowledgeError(f"{path}: {where}[{index}].source: unknown source {source_id!r}")
        section = _text(path, f"{where}[{index}].section", item.get("section"))
        cites.append(Citation(sources[source_id], section))
    return tuple(cites)


def _answers(path: Path, where: str, raw: object, sources: dict[str, Source]) -> dict[str, Answer]:
    raw = _check_keys(path, where, raw or {}, set(ASPECTS))
    answers = {}
    for aspect, entry in raw.items():
        entry = _check_keys(path, f"{where}.{aspect}", entry, {"text", "cite"})
        text = _text(path, f"{where}.{aspect}.text", entry.get("text"))
        try:
            names = [field for _, field, _, _ in Formatter().parse(text) if field is not None]
        except ValueError as exc:
            raise KnowledgeError(f"{path}: {where}.{aspect}.text: {exc}") from exc
        for name in names:
            if name not in PLACEHOLDERS:
                raise KnowledgeError(
                    f"{path}: {where}.{aspect}.text: unknown placeholder {{{name}}}"
                )
        cite = _citations(path, f"{where}.{aspect}.cite", entry.get("cite"), sources)
        answers[aspect] = Answer(text, cite)
    return answers


def load_policy(path: Path, sources: dict[str, Source]) -> Policy:
    """Read one ``policies/<id>.yml``."""
    document = _check_keys(path, "top level", read_mapping(path), _POLICY_KEYS)
    policy_id = _text(path, "id", document.get("id"))
    if policy_id != path.stem:
        raise KnowledgeError(f"{path}: id: {policy_id!r} does not match the file name")
    if policy_id not in POLICY_IDS:
        raise KnowledgeError(f"{path}: id: {policy_id!r} is not a contract policy id")
    needs = tuple(str(n) for n in document.get("needs") or [])
    for need in needs:
        if need not in NEED_CATEGORIES:
            raise KnowledgeError(f"{path}: needs: unknown category {need!r}")
    return Policy(
        id=policy_id,
        name=_text(path, "name", document.get("name")),
        aliases=tuple(str(a) for a in document.get("aliases") or []),
        needs=needs,
        answers=_answers(path, "answers", document.get("answers"), sources),
    )


def load_region(path: Path, sources: dict[str, Source]) -> Region:
    """Read one ``regions/<id>.yml``."""
    document = _check_keys(path, "top level", read_mapping(path), _REGION_KEYS)
    districts = []
    for index, raw in enumerate(document.get("districts") or []):
        entry = _check_keys(path, f"districts[{index}]", raw, {"name", "streets"})
        name = _text(path, f"districts[{index}].name", entry.get("name"))
        districts.append(District(name, tuple(str(s) for s in entry.get("streets") or [])))
    if not districts:
        raise KnowledgeError(f"{path}: districts: a region needs at least one district")
    overrides: dict[str, dict[str, Answer]] = {}
    for policy_id, raw in (document.get("answers") or {}).items():
        if policy_id not in POLICY_IDS:
            raise KnowledgeError(f"{path}: answers.{policy_id}: not a contract policy id")
        overrides[policy_id] = _answers(path, f"answers.{policy_id}", raw, sources)
    cite = document.get("cite")
    street_office = str(document.get("street_office") or "")
    if street_office and "{street}" not in street_office:
        raise KnowledgeError(f"{path}: street_office: must contain {{street}}")
    return Region(
        id=_text(path, "id", document.get("id")),
        name=_text(path, "name", document.get("name")),
        districts=tuple(districts),
        helper_title=_text(path, "helper_title", document.get("helper_title")),
        office=_text(path, "office", document.get("office")),
        hotline=_text(path, "hotline", document.get("hotline", "12345")),
        cite=_citations(path, "cite", cite, sources) if cite else (),
        answers=overrides,
        street_office=street_office,
    )


def load_knowledge(root: Path = KNOWLEDGE_DIR) -> KnowledgeBase:
    """Load the whole knowledge base, failing on the first broken file."""
    sources = load_sources(root / "sources.yml")
    policies = {}
    for path in sorted((root / "policies").glob("*.yml")):
        policy = load_policy(path, sources)
        policies[policy.id] = policy
    missing = [p for p in POLICY_IDS if p not in policies]
    if missing:
        raise KnowledgeError(f"{root / 'policies'}: no file for policy id {missing[0]!r}")
    regions = [load_region(p, sources) for p in sorted((root / "regions").glob("*.yml"))]
    return KnowledgeBase(sources, policies, regions)
