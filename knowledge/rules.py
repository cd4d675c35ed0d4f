"""Lead rules as data: candidate policies, 3A tiers, target class and priority.

The rules live in ``rules/leads.yml``; this module only evaluates them. Every conclusion
carries the rule's reason so that a caseworker sees why, not just what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.errors import KnowledgeError
from knowledge.files import read_mapping
from knowledge.schema import NEED_CATEGORIES, POLICY_IDS

RULES_FILE = Path(__file__).parent / "rules" / "leads.yml"
_TESTS = {
    "needs_any",
    "conditions_any",
    "not_receiving",
    "receiving_any",
    "urgency_any",
    "age_at_least",
    "age_below",
    "household_size_at_most",
}
URGENCIES = ("crisis", "urgent", "soon", "later")


@dataclass(frozen=True, slots=True)
class Facts:
    """What the self-report established, in the terms the rules test."""

    needs: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    receiving: frozenset[str] = frozenset()
    urgency: str | None = None
    ages: tuple[int, ...] = ()
    household_size: int | None = None
    urgent_words: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """A policy the household might qualify for, and why we think so."""

    policy: str
    reason: str
    source: str
    section: str


@dataclass(slots=True)
class Assessment:
    """The rule engine's conclusions for one report."""

    candidates: list[Candidate] = field(default_factory=list)
    tiers: list[tuple[str, str]] = field(default_factory=list)
    target_class: str = "missing"
    target_reason: str = ""
    priority: int = 3
    priority_reason: str = ""


@dataclass(frozen=True, slots=True)
class _Rule:
    policy: str
    when: dict[str, Any]
    reason: str
    source: str
    section: str


class LeadRules:
    """The loaded rule set."""

    def __init__(self, document: dict[str, Any], path: Path = RULES_FILE):
        """Validate and index the rules document."""
        self.path = path
        self.disclaimer = str(document.get("disclaimer", "初步判断,以审核为准"))
        self.rules: list[_Rule] = []
        for index, raw in enumerate(document.get("candidates") or []):
            where = f"{path}: candidates[{index}]"
            policy = str(raw.get("policy", ""))
            if policy not in POLICY_IDS:
                raise KnowledgeError(f"{where}.policy: unknown policy {policy!r}")
            when = raw.get("when") or {}
            unknown = set(when) - _TESTS
            if unknown:
                raise KnowledgeError(f"{where}.when: unknown test {sorted(unknown)[0]!r}")
            cite = raw.get("cite") or {}
            if not cite.get("source") or not cite.get("section"):
                raise KnowledgeError(f"{where}.cite: missing source")
            self.rules.append(
                _Rule(policy, when, str(raw["reason"]), cite["source"], str(cite["section"]))
            )
        self.tiers: dict[str, tuple[frozenset[str], str]] = {
            name: (frozenset(spec["needs"]), str(spec["reason"]))
            for name, spec in (document.get("tiers") or {}).items()
        }
        self.target_classes: dict[str, str] = dict(document.get("target_classes") or {})
        self.priority_hours: dict[int, int] = {
            int(k): int(v) for k, v in (document.get("priority_hours") or {}).items()
        }
        self.priority_reasons: dict[int, str] = {
            int(k): str(v) for k, v in (document.get("priority_reasons") or {}).items()
        }
        if set(self.priority_reasons) != {1, 2, 3, 4}:
            raise KnowledgeError(f"{path}: priority_reasons: give a reason for priorities 1-4")
        self.urgent_words: tuple[str, ...] = tuple(document.get("urgent_words") or ())
        self.need_words: dict[str, tuple[str, ...]] = {}
        for category, words in (document.get("need_words") or {}).items():
            if category not in NEED_CATEGORIES:
                raise KnowledgeError(f"{path}: need_words.{category}: unknown need category")
            self.need_words[category] = tuple(words)
        # One scan per message instead of one substring test per word: every word, longest
        # first, mapped back to its category.
        category_of = {w: c for c, ws in self.need_words.items() for w in ws}
        ordered = sorted(category_of, key=len, reverse=True)
        self._need_pattern = re.compile("|".join(re.escape(w) for w in ordered) or "$^")
        self._need_category = category_of

    def needs_in(self, text: str) -> list[str]:
        """Need categories the resident's own words name, in catalogue order."""
        found = {self._need_category[m.group(0)] for m in self._need_pattern.finditer(text)}
        if found and len(found) < len(self.need_words):
            # A shorter word inside a longer one of another category still counts; with no
            # match at all, no need word occurs anywhere.
            found |= {
                c
                for c, words in self.need_words.items()
                if c not in found and any(w in text for w in words)
            }
        return [c for c in self.need_words if c in found]

    def is_urgent(self, text: str) -> bool:
        """True when the words describe a need that cannot wait days."""
        return any(w in text for w in self.urgent_words)

    def assess(self, facts: Facts) -> Assessment:
        """Apply every rule to the facts."""
        result = Assessment()
        seen: set[str] = set()
        for rule in self.rules:
            if rule.policy not in seen and _matches(rule.when, facts):
                seen.add(rule.policy)
                result.candidates.append(
                    Candidate(rule.policy, rule.reason, rule.source, rule.section)
                )
        for tier, (needs, reason) in self.tiers.items():
            if needs & facts.needs:
                result.tiers.append((tier, reason))
        if facts.receiving:
            result.target_class = "insufficient"
        elif facts.urgency == "later" and not facts.urgent_words:
            result.target_class = "warning"
        else:
            result.target_class = "missing"
        result.target_reason = self.target_classes.get(result.target_class, "")
        result.priority, result.priority_reason = self._priority(facts, result.target_class)
        return result

    def _priority(self, facts: Facts, target_class: str) -> tuple[int, str]:
        if facts.urgency == "crisis":
            priority = 1
        elif facts.urgency == "urgent" or facts.urgent_words:
            priority = 2
        elif target_class == "warning":
            priority = 4
        else:
            priority = 3
        return priority, self.priority_reasons.get(priority, "")

    def due_hours(self, priority: int) -> int:
        """How many hours a caseworker has for a lead of this priority."""
        return self.priority_hours.get(priority, 72)


def _matches(when: dict[str, Any], facts: Facts) -> bool:
    tests = {
        "needs_any": lambda v: bool(set(v) & facts.needs),
        "conditions_any": lambda v: bool(set(v) & facts.conditions),
        "not_receiving": lambda v: not (set(v) & facts.receiving),
        "receiving_any": lambda v: bool(set(v) & facts.receiving),
        "urgency_any": lambda v: facts.urgency in v,
        "age_at_least": lambda v: any(a >= int(v) for a in facts.ages),
        "age_below": lambda v: any(a < int(v) for a in facts.ages),
        "household_size_at_most": lambda v: (
            facts.household_size is not None and facts.household_size <= int(v)
        ),
    }
    return all(tests[name](value) for name, value in when.items())


def load_rules(path: Path = RULES_FILE) -> LeadRules:
    """Read and validate the lead rules."""
    return LeadRules(read_mapping(path), path)
