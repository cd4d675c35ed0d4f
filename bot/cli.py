"""The ``zhaoren`` command (contract §6)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.logs import configure_logging

if TYPE_CHECKING:
    from datetime import datetime

    from bot.storage.models import User

logger = logging.getLogger("zhaoren")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zhaoren`` console script."""
    parser = argparse.ArgumentParser(
        prog="zhaoren", description="找人 social-assistance assistant"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser(
        "serve", help="run the web server (and Telegram if configured)"
    )
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (needs PostgreSQL; default 1)",
    )
    commands.add_parser("chat", help="talk to the assistant in this terminal")
    commands.add_parser("train", help="train the NLU (cached by a hash of the data)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    nlu = commands.add_parser("nlu", help="NLU tools")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    test = nlu_commands.add_parser("test", help="cross-validate and test on the held-out file")
    test.add_argument("--folds", type=int, default=5)
    test.add_argument("--heldout", type=Path, help="held-out Rasa file (default: nlu/heldout)")
    test.add_argument("--out", type=Path, default=Path("reports/nlu-test.txt"))
    user = commands.add_parser("user", help="staff accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create an account and print its API token")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=["caseworker", "supervisor", "hotline", "admin"]
    )
    add.add_argument("--district")
    forget_cmd = commands.add_parser(
        "forget",
        help="delete one resident's conversations and leads on their request (audited)",
    )
    forget_cmd.add_argument("--phone", help="the phone number the resident gave")
    forget_cmd.add_argument("--lead", help="a lead reference, L-<date>-<number>")
    forget_cmd.add_argument("--conversation", help="a conversation key, channel:sender")
    forget_cmd.add_argument("--by", required=True, help="who handles the request (audit log)")
    forget_cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add.add_argument(
        "--days", type=int, default=90, help="days until the token expires (default 90)"
    )
    user_commands.add_parser("list", help="every account, its role and its token's state")
    revoke = user_commands.add_parser("revoke", help="stop an account's token from working")
    revoke.add_argument("name")
    rotate = user_commands.add_parser(
        "rotate", help="give an account a new token (the old one stops working)"
    )
    rotate.add_argument("name")
    rotate.add_argument(
        "--days", type=int, default=90, help="days until the new token expires (default 90)"
    )
    args = parser.parse_args(argv)

    configure_logging()
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"zhaoren: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from bot.serve import WorkersRefused, check_workers, serve, serve_workers

        try:
            check_workers(settings, args.workers)
        except WorkersRefused as exc:
            print(f"zhaoren: {exc}", file=sys.stderr)
            return 2
        if args.workers > 1:
            return serve_workers(settings, args.host, args.port, args.workers)
        asyncio.run(serve(settings, args.host, args.port))
        return 0
    if args.command == "chat":
        from bot.channels.terminal import run_terminal_chat

        try:
            return asyncio.run(run_terminal_chat(settings))
        except KeyboardInterrupt:
            return 0
    if args.command == "train":
        return _train(settings)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "forget":
        return asyncio.run(_forget(settings, args))
    if args.command == "nlu":
        return _nlu_test(settings, args.folds, args.heldout, args.out)
    if args.command == "user":
        return asyncio.run(_user(settings, args))
    return 2


def _train(settings: Settings) -> int:
    from bot.assembly import load_brain

    brain = load_brain(settings)
    state = "trained" if brain.report.trained else "already up to date (cached)"
    print(
        f"NLU {state}: {brain.report.examples} examples, {len(brain.nlu.intents)} intents, "
        f"{brain.report.seconds:.2f}s, model {brain.report.cache_file}"
    )
    return 0


def _nlu_test(settings: Settings, folds: int, heldout: Path | None, out: Path) -> int:
    from bot.assembly import HELDOUT_DIR
    from nlu import evaluate, training_data
    from nlu.pipeline import NluPipeline

    data = training_data.load(settings.nlu_data, exclude=[HELDOUT_DIR])
    from bot.assembly import knowledge_terms
    from knowledge.loader import load_knowledge

    extra = knowledge_terms(settings, load_knowledge())

    def train(fold_data: training_data.TrainingData) -> evaluate.Parser:
        pipeline, _ = NluPipeline.build(fold_data, extra, cache_dir=None)
        return pipeline.parse

    started = time.perf_counter()
    sections = [evaluate.report(evaluate.cross_validate(data, train, folds))]
    heldout_path = heldout or (HELDOUT_DIR if settings.uses_project_data else None)
    if heldout_path is not None and heldout_path.exists():
        full, _ = NluPipeline.build(data, extra, settings.cache_dir)
        held = evaluate.Evaluation(f"held-out {heldout_path}")
        evaluate.score(held, training_data.load(heldout_path).examples, full.parse)
        sections.append(evaluate.report(held))
        if "policy" in held.entities:
            sections.append(
                f"policy entity accuracy (held-out): {held.entity_accuracy('policy'):.3f}"
            )
    sections.append(f"evaluated in {time.perf_counter() - started:.1f}s")
    text = "\n\n".join(sections)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"\nreport written to {out}")
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.storage.db import create_engine, migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


async def _user(settings: Settings, args: argparse.Namespace) -> int:
    """``zhaoren user add|list|revoke|rotate``; a token is printed only when it is made."""
    from sqlalchemy.exc import IntegrityError

    from bot.storage import accounts
    from bot.storage.db import create_engine, migrate, sessionmaker

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        sessions = sessionmaker(engine)
        command = args.user_command
        if command == "add":
            try:
                user, token = await accounts.add_user(
                    sessions, args.name, args.role, args.district, args.days
                )
            except IntegrityError:
                print(f"zhaoren: an account named {args.name!r} already exists", file=sys.stderr)
                return 1
            where = f" for {user.district}" if user.district else ""
            print(
                f"created {user.role} {user.name!r}{where}; the token expires "
                f"{_when(user.expires_at)}. API token (shown only once):"
            )
            print(token)
        elif command == "list":
            _print_accounts(await accounts.list_users(sessions))
        elif command == "revoke":
            user = await accounts.revoke(sessions, args.name)
            print(f"revoked the token of {user.name!r}; it no longer works")
        else:
            user, token = await accounts.rotate(sessions, args.name, args.days)
            print(
                f"new token for {user.name!r} (the old one no longer works); it expires "
                f"{_when(user.expires_at)}. API token (shown only once):"
            )
            print(token)
    except accounts.AccountError as exc:
        print(f"zhaoren: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def _when(moment: datetime | None) -> str:
    from bot.storage.common import utc

    return "-" if moment is None else f"{utc(moment):%Y-%m-%d %H:%M} UTC"


def _print_accounts(users: list[User]) -> None:
    """One line per account; never its token (only a hash of it is stored anyway)."""
    rows = [("name", "role", "district", "created", "expires", "revoked")]
    rows += [
        (
            user.name,
            user.role,
            user.district or "-",
            _when(user.created_at),
            _when(user.expires_at),
            _when(user.revoked_at),
        )
        for user in users
    ]
    import unicodedata

    def width(text: str) -> int:  # a Chinese character takes two columns in a terminal
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell + " " * (w - width(cell)) for cell, w in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


async def _forget(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.db import create_engine, migrate, sessionmaker
    from bot.storage.retention import forget

    if not (args.phone or args.lead or args.conversation):
        print("zhaoren forget: give --phone, --lead or --conversation", file=sys.stderr)
        return 2
    if not args.yes:
        answer = input("Delete this resident's conversations and leads for good? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing deleted.")
            return 1
    db = create_engine(settings.database_url)
    try:
        await migrate(db)
        deleted = await forget(
            db,
            sessionmaker(db),
            args.by,
            conversation=args.conversation,
            phone=args.phone,
            lead_id=args.lead,
        )
    except ValueError as exc:
        print(f"zhaoren forget: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(f"Deleted {deleted.conversations} conversations and {deleted.leads} leads (audited).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
