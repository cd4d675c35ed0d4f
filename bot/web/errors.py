"""Every error a client can cause becomes JSON with a 4xx status, never a stack trace."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.leads import QueueError
from nlu.normalize import storable

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A client error with its HTTP status."""

    def __init__(self, status: int, message: str):
        """Remember status and the message shown to the client."""
        super().__init__(message)
        self.status = status
        self.message = message


def json_error(status: int, message: str) -> web.Response:
    """The contract's error body."""
    return web.json_response({"error": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map exceptions to JSON errors in one place."""
    try:
        return await handler(request)
    except (ApiError, QueueError) as exc:
        return json_error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "text/plain":
            raise
        return json_error(exc.status, exc.reason)
    except Exception:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


async def json_object(request: web.Request, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 with a clear message."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"body too large (limit {max_bytes} bytes)")
    raw = await request.read()  # the whole body, however it was chunked on the wire
    if len(raw) > max_bytes:
        raise ApiError(413, f"body too large (limit {max_bytes} bytes)")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, required: bool = True) -> str:
    """A string field of a JSON body."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"missing field '{name}'")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ApiError(400, f"field '{name}' must be a string")
    return storable(value)
