"""A resident talking to the engine, for readable conversation tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.assembly import Assistant
from bot.storage.lead_json import lead_json
from bot.storage.models import Lead
from dialogues.schema import Reply


class Resident:
    """Sends messages as one sender and keeps the last replies."""

    def __init__(self, assistant: Assistant, sender: str, channel: str = "rest"):
        self.assistant = assistant
        self.sender = sender
        self.channel = channel
        self.replies: list[Reply] = []

    async def say(self, text: str, message_id: str | None = None) -> str:
        self.replies = await self.assistant.engine.handle(
            self.channel, self.sender, text, message_id
        )
        return "\n".join(r.text for r in self.replies)

    def buttons(self) -> dict[str, str]:
        return {b.title: b.payload for r in self.replies for b in r.buttons}

    async def press(self, title_part: str) -> str:
        matches = [p for t, p in self.buttons().items() if title_part in t]
        assert matches, f"no button with {title_part!r} in {list(self.buttons())}"
        return await self.say(matches[0])

    async def leads(self) -> list[dict[str, Any]]:
        async with self.assistant.sessions() as session:
            rows = (await session.scalars(select(Lead).order_by(Lead.seq))).all()
            return [lead_json(r, unmask=True) for r in rows]

    async def report_until_consent(self, place: str, need: str, contact: str) -> None:
        """A two-person household with no income, up to the confirmed summary."""
        await self.say("我想登记一下家里的困难")
        await self.say(place)
        await self.say("两个人")
        await self.say("没有收入")
        await self.say("没有")
        await self.say(need)
        await self.say("比较急")
        await self.say(contact)
        assert "对吗" in self.replies[-1].text, self.replies[-1].text
        await self.press("对")
