"""The shape of the code: what the dialogue core may import, and what it is built from."""

from __future__ import annotations

import ast
from pathlib import Path

from dialogues.engine import Engine
from dialogues.understand import Understanding

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "dialogues"
CORE_PACKAGES = ("dialogues", "nlu", "knowledge")
# Channels, the web server and the database belong to bot/; the core talks to them via ports.
FORBIDDEN = ("aiogram", "aiohttp", "sqlalchemy", "asyncpg", "aiosqlite")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` imports, anywhere in the file (TYPE_CHECKING included).

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a submodule);
    relative imports are resolved against ``module``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = modules_of(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {
            target for target in imported_names(path, name) if target in modules and target != name
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for target in sorted(graph[node]):
            if colour[target] == grey:
                return [*stack[stack.index(target) :], target]
            if colour[target] == white:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(graph):
        if colour[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_imports() -> None:
    """A guard for the cycle test: the graph must hold the imports that are obviously there."""
    graph = import_graph(PACKAGE)
    assert "dialogues.engine" in graph
    assert "dialogues.understand" in graph["dialogues.engine"]
    assert "dialogues.schema" in graph["dialogues.engine"]


def test_cycle_finder_finds_long_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_dialogues_modules_import_no_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle in dialogues: " + " -> ".join(cycle or [])


def test_core_does_not_import_io_frameworks() -> None:
    offences: list[str] = []
    for package in CORE_PACKAGES:
        for name, path in modules_of(package).items():
            for target in sorted(imported_names(path, name)):
                if target.split(".")[0] in FORBIDDEN:
                    offences.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not offences, "\n".join(offences)


def test_the_old_routing_chain_is_gone() -> None:
    assert not hasattr(Engine, "_route"), "Engine._route is back: routing belongs to understand"


def test_understanding_is_defined_in_understand_module() -> None:
    path = ROOT / PACKAGE / "understand.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert "Understanding" in classes, "dialogues/understand.py must define Understanding"
    methods = {
        node.name
        for node in classes["Understanding"].body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert "understand" in methods, "Understanding.understand must be defined in understand.py"
    assert Understanding.__module__ == "dialogues.understand"
    assert callable(Understanding.understand)
