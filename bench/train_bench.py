"""Part 2: training the NLU from scratch (no model cache) on the project's data."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import Context
from bench.report import Figure

PART = "train"
TARGET_SECONDS = 10.0


def run(ctx: Context) -> None:
    from bot.assembly import HELDOUT_DIR
    from bot.config import DEFAULT_NLU_DATA
    from knowledge.loader import load_knowledge
    from nlu import training_data
    from nlu.entities import Term
    from nlu.pipeline import NluPipeline

    started = time.perf_counter()
    data = training_data.load(DEFAULT_NLU_DATA, exclude=[HELDOUT_DIR])
    kb = load_knowledge()
    extra = [Term(*t) for t in kb.district_terms() + kb.policy_terms()]
    loaded = time.perf_counter() - started

    fresh_imports = "sklearn" not in sys.modules
    started = time.perf_counter()
    pipeline, train_report = NluPipeline.build(data, extra, cache_dir=None)
    seconds = time.perf_counter() - started
    assert train_report.trained, "cache_dir=None must train"

    report = ctx.report
    report.info(
        PART,
        f"{len(data.examples)} examples, {len(pipeline.intents)} intents, "
        f"{len(extra)} knowledge-base terms; reading data took {loaded:.2f}s (not counted)",
    )
    report.add(Figure(PART, "training time (cache_dir=None)", seconds, "s", "<=", TARGET_SECONDS))
    if fresh_imports:
        report.info(
            PART,
            f"  of which importing scikit-learn/scipy ≈ {_import_seconds():.2f}s "
            "(measured apart, in a fresh interpreter)",
        )


def _import_seconds() -> float:
    """How long the first import of what ``IntentClassifier.fit`` needs takes."""
    code = (
        "import time; t = time.perf_counter(); import numpy; "
        "import scipy.sparse, sklearn.feature_extraction.text, sklearn.linear_model; "
        "print(time.perf_counter() - t)"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        return float(done.stdout.strip())
    except (subprocess.SubprocessError, ValueError):
        return float("nan")
