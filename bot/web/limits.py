"""Rate limits on the resident endpoints: per sender, per address, and new senders per address.

Token buckets in the process's memory: each server process limits what it receives (with N
workers an address gets at most N times the limit, which still stops a flood). The tables
are bounded, so a flood of new senders cannot grow memory without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` requests at once, refilled continuously at ``burst`` per ``per_seconds``."""

    burst: float
    per_seconds: float

    @property
    def refill(self) -> float:
        """Tokens per second."""
        return self.burst / self.per_seconds


@dataclass(frozen=True, slots=True)
class Limits:
    """The defaults allow a resident typing fast and an office or village behind one address."""

    per_sender: Rate = Rate(20, 60)
    per_address: Rate = Rate(300, 60)
    new_senders_per_address: Rate = Rate(10, 600)


class _Buckets:
    def __init__(self, rate: Rate, clock: Callable[[], float], size: int):
        self.rate = rate
        self.clock = clock
        self.size = size
        self.levels: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self.levels

    def take(self, key: str) -> bool:
        now = self.clock()
        level, at = self.levels.pop(key, (self.rate.burst, now))
        level = min(self.rate.burst, level + (now - at) * self.rate.refill)
        allowed = level >= 1
        self.levels[key] = (level - 1 if allowed else level, now)
        if len(self.levels) > self.size:
            self.levels.popitem(last=False)
        return allowed


class RateLimiter:
    """Decides, per message, whether it is within the limits, and which limit it broke."""

    def __init__(
        self,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        size: int = 100_000,
    ):
        """Empty buckets; ``size`` bounds how many senders and addresses are remembered."""
        limits = limits or Limits()
        self.senders = _Buckets(limits.per_sender, clock, size)
        self.addresses = _Buckets(limits.per_address, clock, size)
        self.newcomers = _Buckets(limits.new_senders_per_address, clock, size)

    def check(self, address: str, sender: str) -> str | None:
        """``None`` when allowed, else ``"sender"``, ``"address"`` or ``"new_senders"``."""
        if not self.addresses.take(address):
            return "address"
        key = f"{address}\x00{sender}"
        if key not in self.senders and not self.newcomers.take(address):
            return "new_senders"
        if not self.senders.take(key):
            return "sender"
        return None

    def check_sender(self, sender: str) -> str | None:
        """Only the per-sender limit (a trusted gateway relaying many residents)."""
        return None if self.senders.take(f"integrator\x00{sender}") else "sender"

    def check_address(self, address: str) -> bool:
        """Only the address limit (endpoints without a conversation)."""
        return self.addresses.take(address)
