"""``python -m bench [part ...] [--postgres|--no-postgres] [--cache-dir DIR] [--check|--correctness]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench.common import Context
from bench.pg import Postgres

PARTS = ("train", "parse", "understanding", "webhook", "intake", "multiproc", "adversarial")


def _runner(name: str) -> Callable[[Context], None]:
    if name == "parse":
        from bench.parse_bench import run
    elif name == "train":
        from bench.train_bench import run
    elif name == "understanding":
        from bench.understanding_bench import run
    elif name == "webhook":
        from bench.webhook_bench import run
    elif name == "adversarial":
        from bench.adversarial_bench import run
    elif name == "multiproc":
        from bench.multiprocess_bench import run
    elif name == "intake":
        from bench.intake_bench import run
    else:
        raise ValueError(f"unknown part {name!r}")
    return run


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so every ``finally`` (server shutdown) still runs.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="part",
        help=f"any of {', '.join(PARTS)} (default: all, in that order)",
    )
    pg = parser.add_mutually_exclusive_group()
    pg.add_argument(
        "--postgres",
        dest="postgres",
        action="store_const",
        const=True,
        help="also run the intake on PostgreSQL at 127.0.0.1:5432 (required)",
    )
    pg.add_argument(
        "--no-postgres",
        dest="postgres",
        action="store_const",
        const=False,
        help="never run on PostgreSQL (default: run when 127.0.0.1:5432 answers)",
    )
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="loopback PostgreSQL for the intake (implies --postgres; default "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/zhaoren_bench, created if missing)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="NLU model cache to reuse (default: a temporary one per run)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the servers under cProfile and print where their time goes",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary work area (server logs, SQLite files)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a target is missed, not only on errors",
    )
    parser.add_argument(
        "--correctness",
        action="store_true",
        help="correctness checks only, for CI: the intake with a small load (no lead lost or "
        "duplicated; reports of one phone finished at the same moment make one lead), on "
        "SQLite and, when reachable, PostgreSQL; no timing targets",
    )
    args = parser.parse_args(argv)
    if args.correctness:
        if args.parts and args.parts != ["intake"]:
            parser.error("--correctness runs the intake part only")
        args.parts = ["intake"]
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = [p for p in PARTS if p in args.parts] if args.parts else list(PARTS)

    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    ctx = Context.create(args.cache_dir, args.postgres, args.profile)
    ctx.owns_root = not args.keep
    ctx.correctness = args.correctness
    if args.postgres_url:
        try:
            ctx.pg = Postgres(args.postgres_url)
        except ValueError as exc:
            parser.error(str(exc))
        if ctx.postgres is None:
            ctx.postgres = True
    started = time.perf_counter()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"zhaoren benchmarks: {' '.join(parts)}  (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load}, work area {ctx.root})",
        flush=True,
    )
    if os.getloadavg()[0] > 1.0:
        print(
            "  note: the machine is already busy; figures will be lower than on an idle one",
            flush=True,
        )
    try:
        for name in parts:
            print(f"\n[{name}]", flush=True)
            part_started = time.perf_counter()
            try:
                _runner(name)(ctx)
            except Exception as exc:  # one part failing must not hide the others' figures
                ctx.report.error(name, f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            ctx.report.info(
                name,
                f"(part took {time.perf_counter() - part_started:.1f}s; "
                f"load average now {load} on {os.cpu_count()} CPUs)",
            )
    finally:
        ctx.close()
    print(ctx.report.summary())
    print(f"  total {time.perf_counter() - started:.1f}s")
    if ctx.report.errors or any(f.op == "==" and not f.ok for f in ctx.report.figures):
        return 2  # something broke or a correctness check failed
    if args.check and ctx.report.missed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
