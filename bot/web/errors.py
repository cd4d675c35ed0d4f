"""Every error a client can cause becomes JSON with a 4xx status, never a stack trace.

Most errors pass through ``error_middleware``. A request that is not valid HTTP (a bad
header line, an over-long URL or header, a bad method or request line) never reaches the
app: aiohttp's protocol layer answers it, in ``RequestHandler.handle_error``, which
``JsonErrorRequestHandler`` overrides; ``JsonErrorAppRunner`` is the runner that uses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)
from aiohttp.web_request import BaseRequest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.leads import QueueError
from bot.storage.locks import ConversationBusy
from nlu.normalize import storable

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
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
    except (ConversationBusy, RedisConnectionError):
        # A turn of this conversation is still running elsewhere (or the lock store is
        # away): nothing was changed, the client may send the same message again.
        response = json_error(503, "this conversation is busy; send the message again shortly")
        response.headers["Retry-After"] = "5"
        return response
    except Exception:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


def protocol_error_message(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp could not parse, in words of our own.

    aiohttp's own message quotes the offending bytes, which may be a header carrying a
    bearer token: it goes neither into the answer nor into the log.
    """
    if isinstance(exc, LineTooLong):
        return "request line or header too long (limit 8190 bytes)"
    if isinstance(exc, BadHttpMethod):
        return "bad HTTP method"
    if isinstance(exc, InvalidURLError):
        return "malformed URL"
    if isinstance(exc, BadStatusLine):
        return "malformed request line"
    if isinstance(exc, InvalidHeader):
        return "malformed header"
    return "malformed HTTP request"


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's HTTP protocol handler, answering its own errors as the API does."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A JSON ``{"error"}`` answer; the connection is closed after it, as aiohttp does."""
        if status >= 500:
            # Our own failure (the middleware turns handler errors into JSON first, so this
            # is rare): the traceback is needed, the request's headers are not in it.
            self.logger.error("Error handling request from %s", request.remote, exc_info=exc)
            text = "internal error" if status == 500 else "the server took too long"
        else:
            text = protocol_error_message(exc)
            self.logger.info(
                "Refused a malformed request from %s: %s (%s)",
                request.remote,
                text,
                type(exc).__name__,
            )
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        response = json_error(status, text)
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """aiohttp's low-level server, making ``JsonErrorRequestHandler`` connections."""

    def __call__(self) -> web.RequestHandler:
        """One protocol handler per connection (as ``web.Server.__call__``)."""
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` whose server answers unparsable requests in JSON."""

    async def _make_server(self) -> web.Server:
        # aiohttp offers no public hook for the protocol class: take the server it builds
        # for the app (routes, request factory, its settings) and make ours from it.
        built = await super()._make_server()
        return JsonErrorServer(
            built.request_handler,
            request_factory=built.request_factory,
            handler_cancellation=built.handler_cancellation,
            loop=built._loop,
            **built._kwargs,
        )


async def json_object(request: web.Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 with a clear message."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"body too large (limit {max_bytes} bytes)")
    try:
        raw = await request.read()  # the whole body, however it was chunked on the wire
    except HttpProcessingError:  # e.g. bad chunked encoding, a body shorter than announced
        raise ApiError(400, "the request body could not be read") from None
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
