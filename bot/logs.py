"""Logging that never writes a resident's phone or ID number."""

from __future__ import annotations

import logging

from nlu.privacy import redact

# Driver loggers print SQL parameters (conversation state, phone numbers) at DEBUG/INFO.
_QUIET = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "aiogram.event",
    "alembic.runtime.plugins",
)


class RedactingFilter(logging.Filter):
    """Masks phone and ID numbers in every record, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, masked, and drop the arguments."""
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RedactingFormatter(logging.Formatter):
    """Masks numbers in the whole formatted record, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then mask."""
        return redact(super().format(record))


def configure_logging(level: int = logging.INFO) -> None:
    """Root logging for the ``zhaoren`` command."""
    logging.basicConfig(level=level, force=True)
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(formatter)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
