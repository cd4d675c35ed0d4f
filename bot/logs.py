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


def configure_logging(level: int = logging.INFO) -> None:
    """Root logging for the ``zhaoren`` command."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
