"""Errors raised by the NLU package."""

from __future__ import annotations


class NluError(Exception):
    """Root of every NLU error."""


class TrainingDataError(NluError):
    """Training data that cannot be read; the message names the file and entry."""
