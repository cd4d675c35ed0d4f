"""Part ``understanding``: intent, commands, slots and crisis on sets nobody tuned to.

``heldout`` was written by a reviewer who saw neither the code nor the training data; ``dev``
is the development set (its errors were used to find families of phrasings). The real
questions were copied from public pages (``tests/data/real_questions/PROVENANCE.md``).
Set ``ZHAOREN_EVAL_FAILURES=path`` to write every failure to a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import Context
from bench.report import Figure
from bench.understanding_eval import (
    REAL_QUESTIONS,
    SLOT_KEYS,
    UNDERSTANDING_SETS,
    load_cases,
    score_cases,
    score_questions,
)

PART = "understanding"


def run(ctx: Context) -> None:
    from dialogues.turn import TurnReader
    from dialogues.understand import Understanding, load_policy

    brain = ctx.brain()
    reader = TurnReader(brain.nlu, brain.kb, brain.rules, brain.content)
    understanding = Understanding(load_policy(), brain.content.flow)
    report = ctx.report
    failures: list[str] = []
    for name, path in UNDERSTANDING_SETS.items():
        if not path.exists():
            report.info(PART, f"{path} is missing")
            continue
        scores = score_cases(reader, understanding, load_cases(path))
        held = name == "heldout"
        report.info(PART, f"{name}: {scores.cases} cases in {scores.seconds:.2f} s")
        report.add(Figure(PART, f"{name} command accuracy", scores.command_accuracy, "", digits=3))
        total = scores.slot_total()
        report.add(
            Figure(
                PART,
                f"{name} slot F1 (keys given)",
                total.f1,
                "",
                ">=" if held else None,
                0.90 if held else None,
                3,
            )
        )
        report.add(
            Figure(
                PART,
                f"{name} slot F1 (strict: unlisted slots count)",
                scores.strict_total().f1,
                "",
                digits=3,
            )
        )
        for key in SLOT_KEYS:
            slot = scores.slots[key]
            if slot.tp + slot.fn + slot.fp:
                report.info(
                    PART,
                    f"  {name} {key:<15} P {slot.precision:.3f}  R {slot.recall:.3f}  "
                    f"F1 {slot.f1:.3f}  (n={slot.tp + slot.fn})",
                )
        report.add(Figure(PART, f"{name} crisis recall", scores.crisis_recall, "", "==", 1.0, 3))
        report.add(
            Figure(PART, f"{name} crisis false alarms", scores.false_alarm_rate, "", "<=", 0.02, 3)
        )
        failures += [f"[{name}] {f}" for f in scores.failures]
    if REAL_QUESTIONS.exists():
        questions = load_cases(REAL_QUESTIONS)
        q = score_questions(reader, understanding, questions)
        report.info(PART, f"real questions: {q.questions}")
        report.add(
            Figure(
                PART,
                "real intent accuracy (understood)",
                q.understood_right / q.questions,
                "",
                ">=",
                0.95,
                3,
            )
        )
        report.add(
            Figure(
                PART,
                "real intent accuracy (NLU alone)",
                q.nlu_intent_right / q.questions,
                "",
                digits=3,
            )
        )
        report.add(Figure(PART, "real intent macro-F1", q.macro_f1, "", digits=3))
        report.add(
            Figure(
                PART,
                "real policy accuracy",
                q.policy_right / max(q.with_policy, 1),
                "",
                ">=",
                0.85,
                3,
            )
        )
        report.add(
            Figure(
                PART, "real aspect accuracy", q.aspect_right / max(q.with_aspect, 1), "", digits=3
            )
        )
        for (want, got), count in q.confusion.most_common(6):
            report.info(PART, f"  confused {want} -> {got}: {count}")
        failures += [f"[real] {f}" for f in q.failures]
    target = os.environ.get("ZHAOREN_EVAL_FAILURES")
    if target:
        Path(target).write_text("\n".join(failures) + "\n", encoding="utf-8")
        report.info(PART, f"{len(failures)} failures written to {target}")
