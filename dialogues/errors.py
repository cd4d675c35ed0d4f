"""Errors raised by the dialogues package."""

from __future__ import annotations


class FlowError(Exception):
    """A dialogue file is broken; the message names the file and the key."""
