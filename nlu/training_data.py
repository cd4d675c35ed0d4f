"""Read NLU training data in Rasa's YAML format (``version: "3.1"``).

Supports what the project's data uses and what public Rasa datasets carry: intents with
examples, entity annotations (``[text](entity)``, ``[text](entity:value)`` and
``[text]{"entity": ..., "value": ...}``), synonyms, lookup tables and regexes. A file or a
folder of ``*.yml``/``*.yaml`` files may be given.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu.errors import TrainingDataError

_ENTITY_RE = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<json>[^}]+?)\})"
)


@dataclass(frozen=True, slots=True)
class EntityAnnotation:
    """An entity marked in an example: character offsets are in the plain text."""

    entity: str
    value: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Example:
    """One training example with its intent and annotated entities."""

    text: str
    intent: str
    entities: tuple[EntityAnnotation, ...] = ()


@dataclass(slots=True)
class TrainingData:
    """Everything read from one or more Rasa NLU files."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # surface form -> canonical value
    lookups: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def intents(self) -> list[str]:
        """Intent names in first-seen order."""
        return list(dict.fromkeys(e.intent for e in self.examples))

    def merge(self, other: TrainingData) -> None:
        """Add another file's content to this one."""
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        for name, items in other.lookups.items():
            self.lookups.setdefault(name, []).extend(items)
        for name, patterns in other.regexes.items():
            self.regexes.setdefault(name, []).extend(patterns)


def parse_example(raw: str, intent: str) -> Example:
    """Turn an annotated line into plain text plus entity offsets.

    Raises:
        TrainingDataError: if an entity's JSON annotation is malformed.
    """
    plain: list[str] = []
    entities: list[EntityAnnotation] = []
    cursor = 0
    length = 0
    for match in _ENTITY_RE.finditer(raw):
        before = raw[cursor : match.start()]
        plain.append(before)
        length += len(before)
        text = match.group("text")
        if match.group("json") is not None:
            try:
                attrs = json.loads("{" + match.group("json") + "}")
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"bad entity annotation {match.group(0)!r}") from exc
            entity = str(attrs.get("entity", ""))
            value = str(attrs.get("value", text))
        else:
            entity = match.group("entity").strip()
            value = (match.group("value") or text).strip()
        if not entity:
            raise TrainingDataError(f"entity annotation without a name: {match.group(0)!r}")
        entities.append(EntityAnnotation(entity, value, length, length + len(text), text))
        plain.append(text)
        length += len(text)
        cursor = match.end()
    plain.append(raw[cursor:])
    return Example("".join(plain).strip(), intent, tuple(entities))


def _items(block: object, where: str) -> list[str]:
    if isinstance(block, list):
        return [str(item).strip() for item in block if str(item).strip()]
    if not isinstance(block, str):
        raise TrainingDataError(f"{where}: 'examples' must be a '- item' block")
    items = []
    for line in block.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise TrainingDataError(f"{where}: line {line!r} does not start with '- '")
        items.append(line[2:].strip())
    return items


def load_file(path: Path) -> TrainingData:
    """Read one Rasa YAML file.

    Raises:
        TrainingDataError: naming the file and the entry that is wrong.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise TrainingDataError(f"{path}: the top level must be a mapping")
    data = TrainingData()
    for index, entry in enumerate(document.get("nlu") or []):
        where = f"{path}: nlu[{index}]"
        if not isinstance(entry, dict):
            raise TrainingDataError(f"{where}: must be a mapping")
        examples = _items(entry.get("examples", ""), where)
        if "intent" in entry:
            intent = str(entry["intent"])
            for line in examples:
                example = parse_example(line, intent)
                if example.text:
                    data.examples.append(example)
        elif "synonym" in entry:
            for line in examples:
                data.synonyms[line] = str(entry["synonym"])
        elif "lookup" in entry:
            data.lookups.setdefault(str(entry["lookup"]), []).extend(examples)
        elif "regex" in entry:
            data.regexes.setdefault(str(entry["regex"]), []).extend(examples)
        else:
            raise TrainingDataError(f"{where}: expected intent, synonym, lookup or regex")
    return data


def data_files(path: Path) -> list[Path]:
    """The YAML files under ``path`` (or ``path`` itself), sorted for a stable hash."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in {".yml", ".yaml"})
        return [p for p in files if p.is_file()]
    if path.is_file():
        return [path]
    raise TrainingDataError(f"{path}: no such file or folder")


def fingerprint(files: Iterable[Path]) -> str:
    """A hash of the files' bytes: a change to the data changes it."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def load(path: Path, exclude: Iterable[Path] = ()) -> TrainingData:
    """Read a Rasa NLU file or folder, skipping ``exclude`` (e.g. a held-out folder)."""
    skipped = {p.resolve() for p in exclude}
    files = [
        f
        for f in data_files(path)
        if not any(f.resolve() == s or s in f.resolve().parents for s in skipped)
    ]
    data = TrainingData()
    for file in files:
        data.merge(load_file(file))
    data.fingerprint = fingerprint(files)
    return data
