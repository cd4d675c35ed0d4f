"""Figures with targets, and the small statistics the parts need."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class Figure:
    """One measured value and, optionally, the target it is held to."""

    part: str
    name: str
    value: float
    unit: str
    op: str | None = None  # "<=", ">=" or "==": the target's direction; None = information
    target: float | None = None
    digits: int = 2

    @property
    def has_target(self) -> bool:
        return self.op is not None and self.target is not None

    @property
    def ok(self) -> bool:
        if not self.has_target:
            return True
        assert self.target is not None
        if math.isnan(self.value):
            return False
        if self.op == "<=":
            return self.value <= self.target
        if self.op == ">=":
            return self.value >= self.target
        return self.value == self.target

    def line(self) -> str:
        value = _num(self.value, self.digits)
        text = f"  {self.part:<8} {self.name:<36} {value:>10} {self.unit:<6}"
        if self.has_target:
            assert self.target is not None
            sign = {"<=": "≤", ">=": "≥", "==": "="}[self.op or "=="]
            target = f"{sign} {_num(self.target, self.digits if self.op != '==' else 0)}"
            shown = f"{target} {self.unit}".rstrip()
            text += f"  target {shown:<16} {'ok' if self.ok else 'MISSED'}"
        return text


def _num(value: float, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    if float(value).is_integer() and digits == 0:
        return str(int(value))
    return f"{value:.{digits}f}"


@dataclass(slots=True)
class Report:
    """Collects figures as parts run and prints them at once."""

    figures: list[Figure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def info(self, part: str, text: str) -> None:
        print(f"  {part:<8} {text}", flush=True)

    def error(self, part: str, text: str) -> None:
        self.errors.append(f"{part}: {text}")
        print(f"  {part:<8} ERROR: {text}", file=sys.stdout, flush=True)

    @property
    def missed(self) -> list[Figure]:
        return [f for f in self.figures if not f.ok]

    def summary(self) -> str:
        lines = ["", "=" * 78, "summary", "=" * 78]
        lines.extend(f.line() for f in self.figures if f.has_target)
        with_target = [f for f in self.figures if f.has_target]
        lines.append("-" * 78)
        lines.append(
            f"  {len(with_target) - len(self.missed)}/{len(with_target)} targets met"
            + (f", {len(self.errors)} error(s)" if self.errors else "")
        )
        for error in self.errors:
            lines.append(f"  ERROR {error}")
        return "\n".join(lines)


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
