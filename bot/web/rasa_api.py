"""Rasa-compatible endpoints: ``/healthz``, ``/model/parse``, ``/webhooks/rest/webhook``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.web.errors import ApiError, json_object, text_field
from bot.web.keys import assistant_key
from dialogues.schema import Reply

# /model/parse reads the whole text, so it takes what the engine reads of a message; the
# webhook takes more, and the engine reads its first 2,000 characters and says so.
MAX_PARSE_CHARS = 2_000
MAX_MESSAGE_CHARS = 10_000
MAX_SENDER_CHARS = 200


async def healthz(request: web.Request) -> web.Response:
    """Ready once the model is loaded (the app is only built after loading)."""
    assistant = request.app[assistant_key]
    return web.json_response({"status": "ok", "intents": len(assistant.brain.nlu.intents)})


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's ``/model/parse``."""
    body = await json_object(request)
    text = text_field(body, "text")
    if len(text) > MAX_PARSE_CHARS:
        raise ApiError(413, f"text too long (limit {MAX_PARSE_CHARS} characters)")
    result = request.app[assistant_key].brain.nlu.parse(text)
    return web.json_response(result.as_dict(), dumps=_dumps)


def replies_json(recipient: str, replies: list[Reply]) -> list[dict[str, Any]]:
    """Rasa REST channel shape."""
    out: list[dict[str, Any]] = []
    for reply in replies:
        item: dict[str, Any] = {"recipient_id": recipient, "text": reply.text}
        if reply.buttons:
            item["buttons"] = [{"title": b.title, "payload": b.payload} for b in reply.buttons]
        out.append(item)
    return out


async def rest_webhook(request: web.Request) -> web.Response:
    """Rasa's REST channel: one message in, the assistant's replies out."""
    body = await json_object(request)
    sender = text_field(body, "sender").strip()
    if not sender:
        raise ApiError(400, "field 'sender' must not be empty")
    if len(sender) > MAX_SENDER_CHARS:
        raise ApiError(400, f"field 'sender' is longer than {MAX_SENDER_CHARS} characters")
    message = text_field(body, "message", required=False)
    if len(message) > MAX_MESSAGE_CHARS:
        raise ApiError(413, f"message too long (limit {MAX_MESSAGE_CHARS} characters)")
    message_id = body.get("message_id")
    engine = request.app[assistant_key].engine
    replies = await engine.handle(
        "rest", sender, message, str(message_id) if message_id is not None else None
    )
    return web.json_response(replies_json(sender, replies), dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
