"""Schema-based fuzzing of the whole HTTP API from its own OpenAPI document.

schemathesis reads ``/openapi.json`` from the real app, served on a loopback port by a
thread of its own (schemathesis' tests are synchronous and use ``requests``; the app keeps
its event loop in that thread, so neither fights pytest-asyncio). Every generated request
is sent as a supervisor; those naming a lead are sent again, as a caseworker, at a real lead.
No answer may be a 5xx, and every error must be JSON with an ``error`` key.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.assembly import Brain, open_assistant
from bot.storage.accounts import add_user
from bot.web.app import create_app
from bot.web.errors import JsonErrorAppRunner
from tests.conftest import sqlite_settings
from tests.test_bot.queue_helpers import make_lead

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')"
)
GenerationMode = schemathesis.GenerationMode

EXAMPLES_PER_OPERATION = 60


@dataclass
class LiveApi:
    base_url: str
    tokens: dict[str, str]
    lead_ids: list[str]


async def _serve(
    brain: Brain, db: Path, model_cache: Path, started: Future[LiveApi], stop: asyncio.Event
) -> None:
    settings_ = sqlite_settings(db, model_cache)
    assistant = await open_assistant(settings_, brain)
    tokens = {}
    for name, role, district in [
        ("supervisor", "supervisor", None),
        ("cw_changning", "caseworker", "长宁区"),
    ]:
        _user, tokens[name] = await add_user(assistant.sessions, name, role, district)
    lead_ids = [
        await make_lead(assistant.sessions),
        await make_lead(assistant.sessions, priority=1, district=None),
        await make_lead(assistant.sessions, status="claimed", assignee="cw_changning"),
        await make_lead(assistant.sessions, status="contacted", assignee="cw_changning"),
        await make_lead(assistant.sessions, status="closed", assignee="cw_changning"),
    ]
    runner = JsonErrorAppRunner(await create_app(settings_, assistant=assistant))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    started.set_result(LiveApi(f"http://127.0.0.1:{port}", tokens, lead_ids))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await assistant.close()


@pytest.fixture(scope="module")
def live_api(
    brain: Brain, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    db = tmp_path_factory.mktemp("fuzz") / "zhaoren.db"
    started: Future[LiveApi] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        try:
            loop.run_until_complete(_serve(brain, db, model_cache, started, stop))
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="fuzzed-app", daemon=True)
    thread.start()
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> Any:
    return schemathesis.openapi.from_url(f"{live_api.base_url}/openapi.json")


@schemathesis.check
def error_is_json_with_a_message(ctx: Any, response: Any, case: Any) -> bool:
    """Every 4xx/5xx is ``{"error": "<non-empty text>"}`` (contract §4)."""
    if response.status_code < 400:
        return True
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body["error"].strip(), body
    return True


CHECKS = [schemathesis.checks.not_a_server_error, error_is_json_with_a_message]
OPERATIONS = [
    ("GET", "/healthz"),
    ("POST", "/model/parse"),
    ("POST", "/webhooks/rest/webhook"),
    ("GET", "/api/v1/leads"),
    ("GET", "/api/v1/leads/{id}"),
    ("POST", "/api/v1/leads/{id}/claim"),
    ("POST", "/api/v1/leads/{id}/release"),
    ("POST", "/api/v1/leads/{id}/status"),
    ("POST", "/api/v1/leads/{id}/notes"),
]


def _auth(live_api: LiveApi, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_api.tokens[name]}"}


# schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not run
# on pytest 9 (it sets ``node._nodeid``, which pytest 9 no longer has), so its Python API
# drives hypothesis here instead: one hypothesis run per operation, valid and invalid input.
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_5xx_and_every_error_is_json(
    api_schema: Any, live_api: LiveApi, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, lead=st.sampled_from(live_api.lead_ids))
    def exchange(case: Any, lead: str) -> None:
        headers = _auth(live_api, "supervisor")
        response = case.call(base_url=live_api.base_url, headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if "id" in (case.path_parameters or {}):
            case.path_parameters["id"] = lead  # the same request at a real lead
            headers = _auth(live_api, "cw_changning")
            response = case.call(base_url=live_api.base_url, headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

    exchange()


def test_the_document_is_served_and_names_every_route(live_api: LiveApi) -> None:
    import requests

    document = requests.get(f"{live_api.base_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/healthz",
        "/model/parse",
        "/webhooks/rest/webhook",
        "/api/v1/leads",
        "/api/v1/leads/{id}",
        "/api/v1/leads/{id}/claim",
        "/api/v1/leads/{id}/release",
        "/api/v1/leads/{id}/status",
        "/api/v1/leads/{id}/notes",
    }
    limit = document["paths"]["/api/v1/leads"]["get"]["parameters"][4]
    assert limit["name"] == "limit"
    assert limit["schema"]["maximum"] == 200
