"""Rate limits on the resident endpoints: polite, and never dropping a danger to life."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy import select

from bot.assembly import Assistant, Brain, open_assistant
from bot.storage.models import Lead
from bot.web.app import create_app
from tests.conftest import sqlite_settings

WEBHOOK = "/webhooks/rest/webhook"
FLOODER = "203.0.113.7"
NEIGHBOUR = "198.51.100.20"


async def client_with_limits(
    aiohttp_client: AiohttpClient, tmp_path: Path, model_cache: Path, brain: Brain, **env: str
) -> tuple[TestClient[Any, Any], Assistant]:
    settings = sqlite_settings(
        tmp_path / "z.db",
        model_cache,
        ZHAOREN_RATE_LIMITS="on",
        ZHAOREN_TRUSTED_PROXIES="127.0.0.1",  # the test client plays a reverse proxy
        **env,
    )
    assistant = await open_assistant(settings, brain)
    client = await aiohttp_client(await create_app(settings, assistant=assistant))
    return client, assistant


async def send(client: TestClient[Any, Any], address: str, sender: str, text: str) -> Any:
    return await client.post(
        WEBHOOK, json={"sender": sender, "message": text}, headers={"X-Forwarded-For": address}
    )


async def queue(assistant: Assistant) -> list[Lead]:
    """The queue as a caseworker's first page orders it."""
    async with assistant.sessions() as session:
        query = select(Lead).order_by(Lead.priority, Lead.due_at, Lead.seq).limit(50)
        return list((await session.scalars(query)).all())


async def test_a_crisis_flood_from_one_address_collapses_and_real_leads_stay_on_page_one(
    aiohttp_client: AiohttpClient, tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    client, assistant = await client_with_limits(aiohttp_client, tmp_path, model_cache, brain)
    try:
        for n in range(500):
            resp = await send(client, FLOODER, f"bot-{n}", "/crisis")
            # Never dropped: every one of them gets the crisis answer.
            assert resp.status == 200, await resp.text()
            assert "110" in (await resp.json())[0]["text"]
        resp = await send(client, NEIGHBOUR, "real", "我不想活了,今晚就想从桥上跳下去")
        assert resp.status == 200
        first_page = await queue(assistant)
        flood = [lead for lead in first_page if lead.conversation_id != "rest:real"]
        assert len(flood) <= 11  # ten new senders' worth, then one lead for the address
        assert any(lead.conversation_id == "rest:real" for lead in first_page)
        assert any(lead.conversation_id == f"flood:{FLOODER}" for lead in first_page)
    finally:
        await assistant.close()


async def test_one_sender_too_fast_is_asked_politely_to_wait_but_danger_still_goes_through(
    aiohttp_client: AiohttpClient, tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    client, assistant = await client_with_limits(aiohttp_client, tmp_path, model_cache, brain)
    try:
        statuses = []
        for _ in range(30):
            resp = await send(client, NEIGHBOUR, "typist", "低保怎么申请")
            statuses.append(resp.status)
        assert statuses[:20] == [200] * 20
        assert 429 in statuses
        resp = await send(client, NEIGHBOUR, "typist", "低保怎么申请")
        body = await resp.json()
        assert resp.status == 429 and "稍等" in body["error"] and resp.headers["Retry-After"]
        # Over the limit, a danger message is still answered and recorded in its own conversation.
        resp = await send(client, NEIGHBOUR, "typist", "他又打我了,我躲在厕所里")
        assert resp.status == 200
        leads = await queue(assistant)
        assert [lead.conversation_id for lead in leads] == ["rest:typist"]
        assert leads[0].priority == 1
        # Another resident at the same address is not slowed by the first one.
        assert (await send(client, NEIGHBOUR, "other", "低保怎么申请")).status == 200
    finally:
        await assistant.close()


async def test_with_a_rest_secret_only_the_integrator_may_use_the_webhook(
    aiohttp_client: AiohttpClient, tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    client, assistant = await client_with_limits(
        aiohttp_client, tmp_path, model_cache, brain, ZHAOREN_REST_SECRET="s3cret-for-gateway"
    )
    try:
        body = {"sender": "someone-elses-id", "message": "我的登记怎么样了"}
        resp = await client.post(WEBHOOK, json=body)
        assert resp.status == 401 and "error" in await resp.json()
        wrong = {"Authorization": "Bearer guess"}
        assert (await client.post(WEBHOOK, json=body, headers=wrong)).status == 401
        right = {"Authorization": "Bearer s3cret-for-gateway"}
        resp = await client.post(WEBHOOK, json=body, headers=right)
        assert resp.status == 200
        # A gateway relays many residents from one address: only per-sender limits apply.
        for n in range(40):
            resp = await client.post(
                WEBHOOK, json={"sender": f"resident-{n}", "message": "你好"}, headers=right
            )
            assert resp.status == 200
    finally:
        await assistant.close()
