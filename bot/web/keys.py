"""Typed keys for what the aiohttp app holds."""

from __future__ import annotations

from aiohttp import web

from bot.assembly import Assistant
from bot.config import Settings

settings_key = web.AppKey("settings", Settings)
assistant_key = web.AppKey("assistant", Assistant)
