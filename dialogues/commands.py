"""What a resident's message means, as commands for the flows (Rasa CALM's shape).

``understand`` turns a turn into a short list of these; the engine executes them in the
order the precedence table (``understanding.yml``) gives. One message may mean several
things: "我老伴住院了,住在长宁区" starts a report *and* sets two slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The kinds a command may have. The evaluation sets use the same names.
KINDS = (
    "crisis",
    "cancel",
    "restart",
    "back",
    "start_report",
    "correct_slot",
    "set_slot",
    "skip",
    "affirm",
    "deny",
    "answer_policy",
    "handoff",
    "check_status",
    "offer_help",
    "complaint",
    "small_talk",
    "clarify",
    "out_of_scope",
)


@dataclass(frozen=True, slots=True)
class Command:
    """One thing the resident means.

    Attributes:
        kind: one of ``KINDS``.
        slot: for ``set_slot`` / ``correct_slot``: which slot.
        value: the slot's value, or what a ``small_talk`` / ``clarify`` is about
            (``greet``, ``which_policy``, ``not_understood`` …).
        policy: for ``answer_policy``: the policy asked about, if named or known.
        aspect: for ``answer_policy``: the aspect asked about, if any.
        certainty: for ``crisis``: ``sure`` (posts a lead at once), ``suspected`` (advice
            and "are you in danger now?") or ``follow_up`` (a message after a crisis).
        danger: for ``crisis``: the kind of danger (``self_harm``, ``violence`` …).
    """

    kind: str
    slot: str | None = None
    value: Any = None
    policy: str | None = None
    aspect: str | None = None
    certainty: str | None = None
    danger: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown command kind {self.kind!r}")


def kinds(commands: list[Command]) -> list[str]:
    """The distinct kinds of a command list, in order."""
    return list(dict.fromkeys(c.kind for c in commands))
