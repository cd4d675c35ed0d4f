"""``zhaoren serve`` with a profiler switched by signals (used by ``python -m bench --profile``).

SIGUSR1 starts cProfile, SIGUSR2 stops it and writes the stats to ``argv[1]``: only the
measured load is profiled, not start-up. Settings come from the environment, as for
``zhaoren serve``; ``argv[2]`` and ``argv[3]`` are the host and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import logging
import signal
import sys

from bot.config import Settings
from bot.serve import serve


def main() -> None:
    out, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    profiler = cProfile.Profile()

    def start(_signum: int, _frame: object) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Settings.from_env(), host, port))


if __name__ == "__main__":
    main()
