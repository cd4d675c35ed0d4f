"""Requests that aiohttp cannot even parse, and integers too long to convert.

The app is served as ``zhaoren serve`` serves it (``JsonErrorAppRunner``), and bytes go
over a real socket, since a client library would refuse to send most of these requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from bot.assembly import Assistant
from bot.config import Settings
from bot.storage.accounts import add_user
from bot.web.app import create_app
from tests.test_bot.queue_helpers import JsonErrorTestServer

SECRET = "SECRETx9f2token"
HOST = b"Host: zhaoren.test\r\n"
AUTH = f"Authorization: Bearer {SECRET}".encode()

MALFORMED = {
    "bad header value": b"GET /healthz HTTP/1.1\r\n" + HOST + AUTH + b"\x01x\r\n\r\n",
    "header line without a colon": b"GET /healthz HTTP/1.1\r\n"
    + HOST
    + AUTH
    + b"\r\nno colon "
    + SECRET.encode()
    + b"\r\n\r\n",
    "over-long header": b"GET /healthz HTTP/1.1\r\n" + HOST + AUTH + b"A" * 9000 + b"\r\n\r\n",
    "over-long URL": b"GET /api/v1/leads?x="
    + b"a" * 9000
    + b" HTTP/1.1\r\n"
    + HOST
    + AUTH
    + b"\r\n\r\n",
    "bad method": b"G(T /healthz HTTP/1.1\r\n" + HOST + AUTH + b"\r\n\r\n",
    "malformed request line": b"GET /healthz HTTP/9.Z\r\n" + HOST + AUTH + b"\r\n\r\n",
    "no path": b"GET\r\n" + HOST + AUTH + b"\r\n\r\n",
    "bad chunked body": b"POST /model/parse HTTP/1.1\r\n"
    + HOST
    + AUTH
    + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "huge Content-Length": b"POST /model/parse HTTP/1.1\r\n"
    + HOST
    + AUTH
    + b"\r\nContent-Length: "
    + b"9" * 5000
    + b"\r\n\r\n",
}


async def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
async def server_port(settings: Settings, assistant: Assistant) -> Any:
    server = JsonErrorTestServer(await create_app(settings, assistant=assistant))
    await server.start_server()
    try:
        yield server.port
    finally:
        await server.close()


@pytest.mark.parametrize("name", sorted(MALFORMED))
async def test_unparsable_requests_get_json_errors_and_the_token_is_not_logged(
    server_port: int, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, body = await _exchange(server_port, MALFORMED[name])
    assert 400 <= status < 500, (status, body)
    assert headers["Content-Type"].startswith("application/json"), body
    error = json.loads(body)["error"]
    assert isinstance(error, str) and error.strip()
    assert SECRET not in body.decode("latin-1"), "the answer must not echo the request"
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    assert SECRET not in logged, logged


async def test_a_refused_token_is_not_logged_either(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    assistant: Assistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(await create_app(settings, assistant=assistant))
    for path in ("/api/v1/leads", "/api/v1/leads/L-20260101-0001/claim", "/nowhere"):
        resp = await client.post(path, headers={"Authorization": f"Bearer {SECRET}"}, data=b"{")
        assert 400 <= resp.status < 500
        assert "error" in await resp.json()
    assert SECRET not in caplog.text


TOO_MANY_DIGITS = "1" * 4301  # past Python's int-string conversion limit (4300)


@pytest.mark.parametrize("param", ["limit", "offset", "priority"])
@pytest.mark.parametrize("value", [TOO_MANY_DIGITS, "0" * 4301 + "5", "9" * 11])
async def test_overlong_integers_are_400_not_500(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    assistant: Assistant,
    param: str,
    value: str,
) -> None:
    _user, token = await add_user(assistant.sessions, "sup", "supervisor", None)
    client = await aiohttp_client(await create_app(settings, assistant=assistant))
    resp = await client.get(
        "/api/v1/leads", params={param: value}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 400, await resp.text()
    assert param in (await resp.json())["error"]


@pytest.mark.parametrize("path", ["/model/parse", "/webhooks/rest/webhook"])
async def test_overlong_integers_in_bodies_are_400_not_500(
    aiohttp_client: AiohttpClient, settings: Settings, assistant: Assistant, path: str
) -> None:
    client = await aiohttp_client(await create_app(settings, assistant=assistant))
    body = '{"text": ' + TOO_MANY_DIGITS + ', "sender": "s", "message": ' + TOO_MANY_DIGITS + "}"
    resp = await client.post(path, data=body)
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()


async def test_a_busy_conversation_is_a_503_to_retry_not_a_500(
    aiohttp_client: AiohttpClient,
) -> None:
    """A turn waiting too long for its conversation's lock (held by another process)."""
    from aiohttp import web

    from bot.storage.locks import ConversationBusy
    from bot.web.errors import error_middleware

    async def busy(request: web.Request) -> web.Response:
        raise ConversationBusy("conversation still busy after 15s")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/webhooks/rest/webhook", busy)
    client = await aiohttp_client(app)
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "a", "message": "你好"})
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert "again" in (await resp.json())["error"]
