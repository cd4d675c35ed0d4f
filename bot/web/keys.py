"""Typed keys for what the aiohttp app holds."""

from __future__ import annotations

from aiohttp import web

from bot.assembly import Assistant
from bot.config import Settings
from bot.web.limits import RateLimiter

settings_key = web.AppKey("settings", Settings)
assistant_key = web.AppKey("assistant", Assistant)
limiter_key = web.AppKey("limiter", RateLimiter)
