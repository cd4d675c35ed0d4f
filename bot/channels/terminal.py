"""``zhaoren chat``: a resident's conversation in the terminal (a thin channel adapter)."""

from __future__ import annotations

import asyncio
import sys
import uuid

from bot.assembly import open_assistant
from bot.config import Settings
from dialogues.schema import Button, Reply


def render(replies: list[Reply]) -> tuple[str, list[Button]]:
    """Replies as text; buttons numbered so the resident can type a number."""
    lines: list[str] = []
    buttons: list[Button] = []
    for reply in replies:
        lines.append(reply.text)
        for button in reply.buttons:
            buttons.append(button)
            lines.append(f"  [{len(buttons)}] {button.title}")
    return "\n".join(lines), buttons


async def run_terminal_chat(settings: Settings) -> int:
    """Read lines from stdin until EOF or 再见."""
    assistant = await open_assistant(settings)
    # Each run is a new resident: two people at one terminal must not share a report.
    sender = f"terminal-{uuid.uuid4().hex}"
    print("找人 — 输入文字聊天,输入按钮前的数字选择,Ctrl-D 退出。\n")
    buttons: list[Button] = []
    loop = asyncio.get_running_loop()
    try:
        while True:
            print("您: ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if text.strip().isdigit() and 1 <= int(text.strip()) <= len(buttons):
                text = buttons[int(text.strip()) - 1].payload
            replies = await assistant.engine.handle("cli", sender, text)
            shown, buttons = render(replies)
            print(f"助手: {shown}\n", flush=True)
    finally:
        await assistant.close()
    return 0
