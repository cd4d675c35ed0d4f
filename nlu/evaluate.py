"""Evaluate the NLU: k-fold cross-validation and a held-out file.

Prints and returns accuracy, macro-F1, a per-intent table, the most confused pairs and
entity precision/recall. Works on any Rasa-format data.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nlu.schema import ParseResult
from nlu.training_data import Example, TrainingData

Parser = Callable[[str], ParseResult]
Trainer = Callable[[TrainingData], Parser]


@dataclass(slots=True)
class EntityScore:
    """Counts for one entity type."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        """Share of found mentions that are right."""
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 0.0

    @property
    def recall(self) -> float:
        """Share of gold mentions that were found."""
        expected = self.true_positive + self.false_negative
        return self.true_positive / expected if expected else 0.0


@dataclass(slots=True)
class Evaluation:
    """Results of one evaluation run."""

    name: str
    gold: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    entities: dict[str, EntityScore] = field(default_factory=lambda: defaultdict(EntityScore))
    errors: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of examples with the right intent."""
        pairs = list(zip(self.gold, self.predicted, strict=True))
        return sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0

    def per_intent(self) -> dict[str, tuple[float, float, float, int]]:
        """precision, recall, F1, support for every gold intent."""
        table = {}
        for intent in sorted(set(self.gold)):
            tp = sum(g == p == intent for g, p in zip(self.gold, self.predicted, strict=True))
            predicted = self.predicted.count(intent)
            support = self.gold.count(intent)
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            table[intent] = (precision, recall, f1, support)
        return table

    @property
    def macro_f1(self) -> float:
        """Unweighted mean of the per-intent F1."""
        table = self.per_intent()
        return sum(row[2] for row in table.values()) / len(table) if table else 0.0

    def confusions(self, top: int = 10) -> list[tuple[str, str, int]]:
        """The most frequent (gold, predicted) mistakes."""
        counts = Counter((g, p) for g, p in zip(self.gold, self.predicted, strict=True) if g != p)
        return [(g, p, n) for (g, p), n in counts.most_common(top)]

    def entity_accuracy(self, entity: str) -> float:
        """Share of gold mentions of ``entity`` found with the right value (= recall)."""
        return self.entities[entity].recall


def _norm_value(entity: str, value: object) -> str:
    text = str(value).strip().lower()
    if entity == "phone":
        return re.sub(r"\D", "", text)
    return text


def score(evaluation: Evaluation, examples: Iterable[Example], parse: Parser) -> None:
    """Parse every example and add its outcome to ``evaluation``."""
    for example in examples:
        result = parse(example.text)
        evaluation.gold.append(example.intent)
        evaluation.predicted.append(result.intent.name)
        if result.intent.name != example.intent:
            evaluation.errors.append((example.text, example.intent, result.intent.name))
        gold = Counter((a.entity, _norm_value(a.entity, a.value)) for a in example.entities)
        found = Counter((e.entity, _norm_value(e.entity, e.value)) for e in result.entities)
        for key in gold | found:
            hit = min(gold[key], found[key])
            evaluation.entities[key[0]].true_positive += hit
            evaluation.entities[key[0]].false_negative += gold[key] - hit
            evaluation.entities[key[0]].false_positive += found[key] - hit


def cross_validate(
    data: TrainingData, train: Trainer, folds: int = 5, seed: int = 7
) -> Evaluation:
    """Stratified k-fold: every example is tested once by a model that never saw it."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in data.examples:
        by_intent[example.intent].append(example)
    rng = random.Random(seed)
    assignment: list[list[Example]] = [[] for _ in range(folds)]
    for examples in by_intent.values():
        shuffled = examples[:]
        rng.shuffle(shuffled)
        for index, example in enumerate(shuffled):
            assignment[index % folds].append(example)
    evaluation = Evaluation(f"{folds}-fold cross-validation")
    for fold in range(folds):
        training = TrainingData(
            examples=[e for i, part in enumerate(assignment) if i != fold for e in part],
            synonyms=data.synonyms,
            lookups=data.lookups,
            regexes=data.regexes,
            fingerprint=f"{data.fingerprint}-cv{folds}-{fold}-{seed}",
        )
        score(evaluation, assignment[fold], train(training))
    return evaluation


def report(evaluation: Evaluation) -> str:
    """A plain-text report."""
    lines = [
        f"== {evaluation.name}: {len(evaluation.gold)} examples",
        f"intent accuracy {evaluation.accuracy:.3f}   macro-F1 {evaluation.macro_f1:.3f}",
        "",
        f"{'intent':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for intent, (p, r, f, n) in evaluation.per_intent().items():
        lines.append(f"{intent:<16}{p:>10.3f}{r:>10.3f}{f:>10.3f}{n:>9}")
    lines += ["", "most confused (gold -> predicted: count)"]
    lines += [f"  {g} -> {p}: {n}" for g, p, n in evaluation.confusions()] or ["  none"]
    lines += ["", f"{'entity':<16}{'precision':>10}{'recall':>10}{'gold':>8}{'found':>8}"]
    for name, s in sorted(evaluation.entities.items()):
        gold = s.true_positive + s.false_negative
        found = s.true_positive + s.false_positive
        lines.append(f"{name:<16}{s.precision:>10.3f}{s.recall:>10.3f}{gold:>8}{found:>8}")
    if evaluation.errors:
        lines += ["", "first misclassified examples (text | gold -> predicted)"]
        lines += [f"  {t} | {g} -> {p}" for t, g, p in evaluation.errors[:25]]
    return "\n".join(lines)
