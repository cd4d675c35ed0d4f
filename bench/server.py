"""The real ``zhaoren serve`` in a separate process, on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from bench.common import PROJECT_ROOT, free_port

STARTUP_TIMEOUT = 180.0  # seconds; covers training when the model cache is cold
STOP_TIMEOUT = 15.0


class ServerError(RuntimeError):
    """The server did not start or answer."""


class Server:
    """``python -m bot.cli serve`` with its own home and database; always stopped on exit.

    Use as a context manager: the process is stopped (SIGINT, then SIGTERM, then SIGKILL)
    however the block is left.
    """

    def __init__(
        self, home: Path, database_url: str, cache_dir: Path, profile: Path | None = None
    ):
        self.home = home
        self.profile = profile
        self.database_url = database_url
        self.cache_dir = cache_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"
        self.startup_seconds = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHAOREN_")}
        env.update(
            ZHAOREN_HOME=str(self.home),
            ZHAOREN_DATABASE_URL=self.database_url,
            ZHAOREN_CACHE_DIR=str(self.cache_dir),
            ZHAOREN_HOST="127.0.0.1",
            ZHAOREN_PORT=str(self.port),
            # The bench plays hundreds of residents from one loopback address.
            ZHAOREN_RATE_LIMITS="off",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        """Start the server and wait until ``/healthz`` answers (3 tries at a free port)."""
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            log = self.log_path.open("ab")
            started = time.perf_counter()
            try:
                if self.profile is None:
                    command = [
                        "-m",
                        "bot.cli",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                    ]
                else:
                    command = [
                        "-m",
                        "bench.profiled_server",
                        str(self.profile),
                        "127.0.0.1",
                        str(self.port),
                    ]
                self.process = subprocess.Popen(
                    [sys.executable, *command],
                    cwd=PROJECT_ROOT,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            finally:
                log.close()
            if self._wait_healthy(time.monotonic() + STARTUP_TIMEOUT):
                self.startup_seconds = time.perf_counter() - started
                return
            last_error = self.log_tail()
            self.stop()
            if "address already in use" not in last_error.lower():
                break
        raise ServerError(f"server did not become healthy; log tail:\n{last_error}")

    def _wait_healthy(self, deadline: float) -> bool:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
                    if response.status == 200 and body.get("status") == "ok":
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.2)
        return False

    def memory_kb(self) -> dict[str, int]:
        """VmHWM (peak RSS) and VmRSS of the server process, in kB."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in {"VmHWM", "VmRSS"}:
                    values[key] = int(rest.split()[0])
        return values

    def profile_start(self) -> None:
        """Start the server's profiler (only when started with ``profile``)."""
        if self.profile is not None:
            os.kill(self.pid, signal.SIGUSR1)

    def profile_stop(self) -> None:
        """Stop the server's profiler and wait (at most 10 s) for its stats file."""
        if self.profile is None:
            return
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.profile.exists():
            time.sleep(0.1)
        time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def nlu_start(self) -> str:
        """How the server got its NLU model, from its log: "loaded ..." or "trained ..."."""
        match = re.search(r"NLU (trained|loaded) in ([\d.]+)s", self.log_text())
        if match is None:
            return "NLU start-up not logged"
        how, seconds = match.groups()
        note = "" if how == "loaded" else " — cache missed, so peak RSS includes training"
        return f"NLU {how} in {seconds}s{note}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process: SIGINT (clean shutdown), then SIGTERM, then SIGKILL."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig, wait in (
            (signal.SIGINT, STOP_TIMEOUT),
            (signal.SIGTERM, 5.0),
            (signal.SIGKILL, 5.0),
        ):
            try:
                process.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
