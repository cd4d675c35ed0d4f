"""The caseworkers' lead API (contract §4), behind bearer tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import leads
from bot.storage.accounts import TokenRefused, authenticate
from bot.storage.lead_json import lead_json
from bot.storage.models import User
from bot.web.errors import ApiError, json_object, text_field
from bot.web.keys import assistant_key
from nlu.normalize import storable

MAX_PAGE = 200
MAX_NOTE_CHARS = 4000  # a longer note is cut to this length, not refused
STAFF_ROLES = {"caseworker", "supervisor", "admin"}


async def _user(request: web.Request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token")
    if not token.isascii():
        raise ApiError(401, "invalid token")
    try:
        user = await authenticate(request.app[assistant_key].sessions, token.strip())
    except TokenRefused as exc:
        raise ApiError(401, str(exc)) from None
    if user.role not in STAFF_ROLES:
        raise ApiError(403, "this account may not read leads")
    return user


def _int(value: str, name: str, low: int, high: int) -> int:
    """A bounded whole number from the client.

    Its length is checked before ``int()``: Python refuses to convert more than 4,300
    digits (a ValueError, which would be a 500), and a long string costs time to convert.
    """
    if (
        len(value) > len(str(high))
        or not (value.isascii() and value.isdigit())
        or not low <= int(value) <= high
    ):
        raise ApiError(400, f"'{name}' must be a whole number from {low} to {high}")
    return int(value)


def _json(value: Any, status: int = 200) -> web.Response:
    import json

    return web.json_response(
        value, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


async def list_leads(request: web.Request) -> web.Response:
    """``GET /api/v1/leads``."""
    user = await _user(request)
    query = request.query
    filters: dict[str, Any] = {}
    if "status" in query:
        if query["status"] not in leads.STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(leads.STATUSES)}")
        filters["status"] = query["status"]
    if "priority" in query:
        filters["priority"] = _int(query["priority"], "priority", 1, 4)
    for key in ("district", "assignee"):
        if key in query:
            filters[key] = storable(query[key])[:100]
    limit = _int(query.get("limit", "50"), "limit", 1, MAX_PAGE)
    offset = _int(query.get("offset", "0"), "offset", 0, 10**9)
    async with request.app[assistant_key].sessions() as session:
        rows = await leads.list_leads(session, user, filters, limit, offset)
        return _json({"leads": [lead_json(r) for r in rows], "limit": limit, "offset": offset})


async def get_lead(request: web.Request) -> web.Response:
    """``GET /api/v1/leads/{id}``: the assignee alone sees the whole phone number."""
    user = await _user(request)
    async with request.app[assistant_key].sessions() as session:
        lead = await leads.get_lead(session, user, request.match_info["id"])
        notes = await leads.notes_of(session, lead)
        return _json(lead_json(lead, notes, unmask=lead.assignee == user.name))


async def claim(request: web.Request) -> web.Response:
    """``POST /api/v1/leads/{id}/claim``: one of two concurrent claims gets 409."""
    user = await _user(request)
    async with request.app[assistant_key].sessions() as session:
        lead = await leads.claim(session, user, request.match_info["id"])
        return _json(lead_json(lead, unmask=True))


async def release(request: web.Request) -> web.Response:
    """``POST /api/v1/leads/{id}/release``: the assignee (or a supervisor) gives it back."""
    user = await _user(request)
    async with request.app[assistant_key].sessions() as session:
        lead = await leads.act(session, user, request.match_info["id"], "release")
        return _json(lead_json(lead))


async def set_status(request: web.Request) -> web.Response:
    """``POST /api/v1/leads/{id}/status`` with ``{"status", "note"?}``."""
    user = await _user(request)
    body = await json_object(request)
    status = text_field(body, "status")
    note = text_field(body, "note", required=False)[:MAX_NOTE_CHARS] or None
    async with request.app[assistant_key].sessions() as session:
        lead = await leads.change_status(session, user, request.match_info["id"], status, note)
        return _json(lead_json(lead, unmask=lead.assignee == user.name))


async def add_note(request: web.Request) -> web.Response:
    """``POST /api/v1/leads/{id}/notes`` with ``{"text"}``."""
    user = await _user(request)
    body = await json_object(request)
    text = text_field(body, "text").strip()
    if not text:
        raise ApiError(400, "field 'text' must not be empty")
    async with request.app[assistant_key].sessions() as session:
        note = await leads.add_note(session, user, request.match_info["id"], text[:MAX_NOTE_CHARS])
        return _json({"author": note.author, "text": note.text}, status=201)
