"""The HTTP API (contract §4) as an OpenAPI 3 document, served at ``/openapi.json``.

Limits are the code's own constants, so that the document cannot drift from what the
server enforces; a schema-based fuzzer (tests/test_bot/test_api_fuzz.py) reads it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from bot import leads
from bot.web import leads_api, rasa_api
from bot.web.errors import MAX_BODY_BYTES

_ERROR = {"$ref": "#/components/schemas/Error"}
_LEAD = {"$ref": "#/components/schemas/Lead"}
_JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ERROR}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_BAD_BODY = {
    "400": _error("not a JSON object, or a field missing or of the wrong type"),
    "413": _error(f"body (or text) too long; bodies are limited to {MAX_BODY_BYTES} bytes"),
}
_STAFF = {
    "401": _error("no bearer token, or an invalid, revoked or expired one"),
    "403": _error("this account may not read leads, or not do this to this lead"),
}
_LEAD_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "the lead's reference, L-<date in China>-<sequence>",
    "schema": {"type": "string", "pattern": r"^L-[0-9]{8}-[0-9]{4,9}$"},
}
_LEAD_ACTION = {
    **_STAFF,
    "200": _ok(_LEAD, "the lead after the action"),
    "404": _error("no such lead, or not one this account may see"),
    "409": _error("the lead's status does not allow this (the message says why, or who has it)"),
}
_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "minLength": 1}},
    },
    "Lead": {
        "type": "object",
        "required": ["id", "created_at", "channel", "status", "priority", "due_at", "assignee"],
        "properties": {
            "id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "channel": {"type": "string"},
            "conversation_id": {"type": "string"},
            "status": {"type": "string", "enum": list(leads.STATUSES)},
            "priority": {"type": "integer", "minimum": 1, "maximum": 4},
            "due_at": {"type": "string", "format": "date-time"},
            "assignee": {"type": "string", "nullable": True},
            "region": {"type": "object"},
            "contact": {"type": "object"},
            "household": {"type": "object"},
            "income_monthly": {"type": "number", "nullable": True},
            "current_assistance": {"type": "array", "items": {"type": "string"}},
            "needs": {"type": "array", "items": {"type": "object"}},
            "tier_3a": {"type": "array", "items": {"type": "string"}},
            "target_class": {"type": "string", "nullable": True},
            "candidate_policies": {"type": "array", "items": {"type": "string"}},
            "consent": {"type": "object"},
            "summary": {"type": "string"},
            "notes": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _paths() -> dict[str, Any]:
    text = {"type": "string", "maxLength": rasa_api.MAX_PARSE_CHARS}
    page = leads_api.MAX_PAGE
    return {
        "/healthz": {
            "get": {
                "summary": "ready once the model is loaded",
                "responses": {"200": _ok({"type": "object", "required": ["status"]})},
            }
        },
        "/model/parse": {
            "post": {
                "summary": "Rasa's /model/parse",
                "requestBody": _body(
                    {"type": "object", "required": ["text"], "properties": {"text": text}}
                ),
                "responses": {
                    "200": _ok({"type": "object", "required": ["text", "intent", "entities"]}),
                    **_BAD_BODY,
                    "429": _error("too many requests from this address; Retry-After says when"),
                },
            }
        },
        "/webhooks/rest/webhook": {
            "post": {
                "summary": "Rasa's REST channel: one message in, the replies out",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["sender"],
                        "properties": {
                            "sender": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": rasa_api.MAX_SENDER_CHARS,
                            },
                            "message": {
                                "type": "string",
                                "maxLength": rasa_api.MAX_MESSAGE_CHARS,
                            },
                            "message_id": {"type": "string", "maxLength": 200},
                        },
                    }
                ),
                "responses": {
                    "200": _ok(
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["recipient_id", "text"],
                                "properties": {
                                    "recipient_id": {"type": "string"},
                                    "text": {"type": "string"},
                                    "buttons": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        }
                    ),
                    **_BAD_BODY,
                    "401": _error("ZHAOREN_REST_SECRET is set and the request lacks it"),
                    "429": _error(
                        "too many messages from this sender or address (a danger-to-life "
                        "message is still answered); Retry-After says when"
                    ),
                },
            }
        },
        "/api/v1/leads": {
            "get": {
                "summary": "the queue: most urgent priority first",
                "security": [{"bearer": []}],
                "parameters": [
                    _query("status", {"type": "string", "enum": list(leads.STATUSES)}),
                    _query("priority", {"type": "integer", "minimum": 1, "maximum": 4}),
                    _query("district", {"type": "string", "maxLength": 100}),
                    _query("assignee", {"type": "string", "maxLength": 100}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": page}),
                    _query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["leads", "limit", "offset"],
                            "properties": {"leads": {"type": "array", "items": _LEAD}},
                        }
                    ),
                    "400": _error("a filter or paging parameter out of range"),
                    **_STAFF,
                },
            }
        },
        "/api/v1/leads/{id}": {
            "get": {
                "summary": "one lead with its notes; only its assignee sees the whole phone",
                "security": [{"bearer": []}],
                "parameters": [_LEAD_ID],
                "responses": {
                    "200": _ok(_LEAD),
                    "404": _error("no such lead, or not one this account may see"),
                    **_STAFF,
                },
            }
        },
        "/api/v1/leads/{id}/claim": _lead_action("take a new lead (one of two claims wins)"),
        "/api/v1/leads/{id}/release": _lead_action("give a claimed lead back to the queue"),
        "/api/v1/leads/{id}/status": _lead_action(
            "move the lead along the state machine",
            {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": list(leads.STATUSES)},
                    "note": {"type": "string", "maxLength": leads_api.MAX_NOTE_CHARS},
                },
            },
        ),
        "/api/v1/leads/{id}/notes": {
            "post": {
                "summary": "add a note",
                "security": [{"bearer": []}],
                "parameters": [_LEAD_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": leads_api.MAX_NOTE_CHARS,
                            }
                        },
                    }
                ),
                "responses": {
                    "201": _ok({"type": "object", "required": ["author", "text"]}),
                    "404": _error("no such lead, or not one this account may see"),
                    **_STAFF,
                    **_BAD_BODY,
                },
            }
        },
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _lead_action(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [_LEAD_ID],
        "responses": dict(_LEAD_ACTION),
    }
    if body is not None:
        operation["requestBody"] = _body(body)
        operation["responses"].update(_BAD_BODY)
    return {"post": operation}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once; it only reads constants)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "zhaoren 找人",
            "version": "1",
            "description": 'Every error is JSON {"error": "..."}; bad input is a 4xx.',
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    return web.json_response(openapi_document())
