"""Reading the knowledge base's YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from knowledge.errors import KnowledgeError


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, or an error naming the file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(document, dict):
        raise KnowledgeError(f"{path}: the top level must be a mapping")
    return document
