"""What the parts share: a temporary work area and one NLU model cache per run."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import Report

if TYPE_CHECKING:
    from bench.pg import Postgres
    from bot.assembly import Brain

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Context:
    """One benchmark run: its temporary root, model cache and report."""

    report: Report
    root: Path
    cache_dir: Path
    owns_root: bool = True
    postgres: bool | None = None  # True: required, False: never, None: when reachable
    profile: bool = False  # run servers under cProfile and print where their time goes
    # Correctness checks only (``--correctness``): small loads, no timing targets.
    correctness: bool = False
    pg: Postgres = field(default_factory=lambda: _default_pg())
    _brain: Brain | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls, cache_dir: Path | None, postgres: bool | None, profile: bool = False
    ) -> Context:
        root = Path(tempfile.mkdtemp(prefix="zhaoren-bench-"))
        return cls(Report(), root, cache_dir or root / "models", True, postgres, profile)

    def profile_path(self, home: Path) -> Path | None:
        """Where a server's cProfile output goes, when profiling."""
        return home / "server.prof" if self.profile else None

    def print_profile(self, part: str, path: Path | None, top: int = 30) -> None:
        """Where the server's main thread spent its time: by package, then by function.

        Only the event-loop thread is profiled; time in aiosqlite's worker threads shows
        up as waiting (``epoll``) or as GIL hand-offs (``SimpleQueue.put_nowait``).
        """
        if path is None:
            return
        if not path.exists():
            self.report.info(part, f"no profile written at {path}")
            return
        import io
        import pstats

        stats = pstats.Stats(str(path))
        raw = stats.stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in raw.values())
        groups: dict[str, float] = {}
        for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in raw.items():
            group = _package_of(filename, func)
            groups[group] = groups.get(group, 0.0) + tottime
        lines = [
            f"\n  server profile ({part}): {total:.2f}s of event-loop-thread time, by package"
        ]
        for group, seconds in sorted(groups.items(), key=lambda kv: -kv[1])[:18]:
            lines.append(f"    {seconds:7.3f}s {seconds / total:6.1%}  {group}")
        print("\n".join(lines), flush=True)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        text = out.getvalue()
        print(
            f"\n  top {top} functions by own time:\n{text[text.find('   ncalls') :]}", flush=True
        )

    def close(self) -> None:
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def workdir(self, name: str) -> Path:
        """A fresh directory under the run's root (a server's ZHAOREN_HOME)."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))

    def brain(self) -> Brain:
        """The project's brain, trained once into this run's cache (or loaded from it)."""
        if self._brain is None:
            from bot.assembly import load_brain
            from bot.config import Settings

            settings = Settings.from_env(
                {
                    "ZHAOREN_HOME": str(self.root / "brain"),
                    "ZHAOREN_CACHE_DIR": str(self.cache_dir),
                }
            )
            started = time.perf_counter()
            self._brain = load_brain(settings)
            how = "trained" if self._brain.report.trained else "loaded from cache"
            self.report.info(
                "setup",
                f"NLU model {how} in {time.perf_counter() - started:.1f}s "
                f"({self._brain.report.examples} examples, cache {self.cache_dir})",
            )
        return self._brain


def _default_pg() -> Postgres:
    from bench.pg import Postgres

    return Postgres()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _package_of(filename: str, func: str) -> str:
    """A readable owner for a profiled function: package, project module or built-in."""
    if filename == "~" or filename.startswith("<"):
        name = func.strip("{}<>")
        for marker in ("epoll", "recv", "send", "put_nowait", "marshal", "compile"):
            if marker in name:
                return f"built-in: {name}"
        return "built-in: other"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    for index, part in enumerate(parts):
        if part in {"bot", "nlu", "dialogues", "knowledge", "bench"} and "main" in parts[:index]:
            return f"zhaoren: {part}/{Path(filename).name}"
    if "python3.11" in parts:
        rest = parts[parts.index("python3.11") + 1 :]
        return f"stdlib: {rest[0].removesuffix('.py')}"
    return filename
