"""The load client: aiohttp sessions posting to the REST webhook, timing each message."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

REQUEST_TIMEOUT = 30.0  # seconds for one message, connect included


@dataclass(slots=True)
class Outcome:
    """One message's latency and the replies (or the error)."""

    seconds: float
    replies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(str(r.get("text", "")) for r in self.replies)


def session(concurrency: int) -> aiohttp.ClientSession:
    """A client session allowing ``concurrency`` connections to the one loopback server."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    )


async def send(client: aiohttp.ClientSession, base_url: str, sender: str, message: str) -> Outcome:
    """POST one message to ``/webhooks/rest/webhook`` and time it to the last byte."""
    started = time.perf_counter()
    try:
        async with client.post(
            f"{base_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}
        ) as response:
            body = await response.json(content_type=None)
            seconds = time.perf_counter() - started
            if response.status != 200:
                return Outcome(seconds, error=f"HTTP {response.status}: {body!r}"[:300])
            if not isinstance(body, list) or not body:
                return Outcome(seconds, error=f"no replies: {body!r}"[:300])
            return Outcome(seconds, body)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Outcome(time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
