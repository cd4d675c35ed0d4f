"""Errors raised by the knowledge package."""

from __future__ import annotations


class KnowledgeError(Exception):
    """A knowledge file is broken; the message names the file and the key."""
