"""A running Rasa server as the reader of each message (``ZHAOREN_RASA_URL``).

Teams that already run Rasa keep it: its ``/model/parse`` gives the intent, the ranking and
its entities, mapped to ours; the built-in extractor adds the rule-based entities Rasa did
not return (numbers, phones, places), and the same fallback threshold applies. Rasa pins
aiogram 2 and Python ≤ 3.10, so it is reached over HTTP only. When it does not answer in
time, the built-in NLU reads the message: nothing a resident says is lost to an outage.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from nlu.pipeline import FALLBACK_INTENT, NluPipeline
from nlu.schema import Entity, IntentScore, ParseResult

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0
# The contract's entities (CONTRACT §2); anything else a Rasa model returns is ignored.
CONTRACT_ENTITIES = frozenset(
    {
        "policy",
        "aspect",
        "money",
        "period",
        "age",
        "household_size",
        "relation",
        "condition",
        "district",
        "street",
        "phone",
        "id_number",
    }
)
_NUMBERS = frozenset({"money", "age", "household_size"})


class RasaParser:
    """``RemoteParser`` over a Rasa server's ``/model/parse``."""

    def __init__(self, url: str, local: NluPipeline):
        """Point at ``url`` (e.g. ``http://127.0.0.1:5005``); ``local`` fills the gaps."""
        self.url = url.rstrip("/") + "/model/parse"
        self.local = local
        self._session: aiohttp.ClientSession | None = None

    async def parse(self, text: str) -> ParseResult:
        """Rasa's reading of ``text``, or the built-in one when Rasa fails."""
        try:
            data = await self._post(text)
            return self._from_rasa(text, data)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            logger.warning("Rasa did not answer (%s); using the built-in NLU", type(exc).__name__)
            return self.local.parse(text)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, text: str) -> dict[str, Any]:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        async with self._session.post(self.url, json={"text": text}) as response:
            response.raise_for_status()
            data = await response.json(content_type=None)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data

    def _from_rasa(self, text: str, data: dict[str, Any]) -> ParseResult:
        intent = data.get("intent") or {}
        best = IntentScore(str(intent["name"]), float(intent.get("confidence") or 0.0))
        ranking = tuple(
            IntentScore(str(item["name"]), float(item.get("confidence") or 0.0))
            for item in data.get("intent_ranking") or [intent]
        )
        entities = [e for e in (_entity(raw) for raw in data.get("entities") or []) if e]
        returned = {e.entity for e in entities}
        for entity in self.local.extractor.extract(text):
            overlaps = any(e.start < entity.end and entity.start < e.end for e in entities)
            if entity.entity not in returned and not overlaps:
                entities.append(entity)
        entities.sort(key=lambda e: (e.start, e.end))
        if best.confidence < self.local.threshold:
            # The same fallback as the built-in NLU: out_of_scope heads the ranking.
            fallback = IntentScore(FALLBACK_INTENT, best.confidence)
            rest = tuple(s for s in ranking if s.name != FALLBACK_INTENT)
            return ParseResult(text, fallback, tuple(entities), (fallback, *rest), True)
        return ParseResult(text, best, tuple(entities), ranking)


def _entity(raw: Any) -> Entity | None:
    if not isinstance(raw, dict) or raw.get("entity") not in CONTRACT_ENTITIES:
        return None
    name = str(raw["entity"])
    value: str | int = str(raw.get("value", ""))
    if name in _NUMBERS:
        try:
            value = round(float(value))
        except ValueError:
            return None
    start, end = int(raw.get("start") or 0), int(raw.get("end") or 0)
    return Entity(name, value, start, end, "rasa")
