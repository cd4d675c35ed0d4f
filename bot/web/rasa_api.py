"""Rasa-compatible endpoints: ``/healthz``, ``/model/parse``, ``/webhooks/rest/webhook``."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from bot.web.errors import ApiError, json_object, text_field
from bot.web.keys import assistant_key, limiter_key, settings_key
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


SLOW_DOWN = "您发送得太频繁了,请稍等一会儿再发。如果有人有生命危险,请立即拨打 110 或 120。"
# Danger messages over an address's limits all go to one conversation of that address, so
# that a flood from one place makes one crisis lead, not hundreds.
FLOOD_CHANNEL = "flood"


def client_address(request: web.Request) -> str:
    """The resident's address: the peer, or what a trusted reverse proxy says it is."""
    remote = request.remote or "unknown"
    trusted = request.app[settings_key].trusted_proxies
    if remote not in trusted:
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    # The rightmost hop not added by our own proxies is the one nobody could forge.
    for hop in reversed(hops):
        if hop and hop not in trusted:
            return hop[:64]
    return remote


def slow_down() -> web.Response:
    """A polite 429 that says when to try again."""
    return web.json_response(
        {"error": SLOW_DOWN}, status=429, headers={"Retry-After": "30"}, dumps=_dumps
    )


def _limited(request: web.Request) -> bool:
    return request.app[settings_key].rate_limits


def _trusted_integrator(request: web.Request) -> bool:
    """Whether the request carries the REST secret; refuses it if a secret is set and wrong."""
    secret = request.app[settings_key].rest_secret
    if secret is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), secret.encode()
    ):
        raise ApiError(401, "this endpoint needs the integrator's secret (Authorization: Bearer)")
    return True


async def model_parse(request: web.Request) -> web.Response:
    """Rasa's ``/model/parse``."""
    if _limited(request) and not request.app[limiter_key].check_address(client_address(request)):
        return slow_down()
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
    """Rasa's REST channel: one message in, the assistant's replies out.

    Whoever knows a ``sender`` id holds that conversation, so this channel is for trusted
    integrators (a messaging gateway that issues its own unguessable ids): with
    ``ZHAOREN_REST_SECRET`` set, only they may call it.
    """
    trusted = _trusted_integrator(request)
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
    address = client_address(request)
    limiter = request.app[limiter_key]
    broken = None
    if _limited(request):
        # A trusted gateway relays many residents from one address: only per sender.
        broken = limiter.check_sender(sender) if trusted else limiter.check(address, sender)
    channel, conversation = "rest", sender
    if broken is not None:
        # Over a limit, only a danger-to-life message is still handled: it is recorded, in
        # the sender's own conversation, or, when one address floods, in one per address.
        if not engine.mentions_danger(message):
            return slow_down()
        if broken != "sender":
            channel, conversation = FLOOD_CHANNEL, address
            message_id = None
    replies = await engine.handle(
        channel, conversation, message, str(message_id) if message_id is not None else None
    )
    return web.json_response(replies_json(sender, replies), dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
