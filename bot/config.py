"""Settings from the environment (contract §7), read once and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NLU_DATA = PROJECT_ROOT / "nlu" / "data"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, with the embedded defaults (SQLite, no accounts)."""

    database_url: str
    nlu_data: Path
    cache_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    telegram_token: str | None = None
    telegram_api: str | None = None
    redis_url: str | None = None
    # Every Redis key zhaoren writes starts with this, so several deployments (or test
    # runs) can share one Redis server.
    redis_prefix: str = "zhaoren:"
    secret_key: str = "dev-only-secret"
    rasa_url: str | None = None
    # Idle conversations (and unfinished reports) are deleted after this many days.
    retention_days: int = 30
    # Reverse proxies whose X-Forwarded-For names the resident's address (rate limits).
    trusted_proxies: tuple[str, ...] = ()
    # Per-sender and per-address limits on the resident endpoints ("off" for load tests).
    rate_limits: bool = True
    # When set, the Rasa REST webhook is for trusted integrators holding this secret
    # (header "Authorization: Bearer <secret>"); they are exempt from the address limits.
    rest_secret: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read ``ZHAOREN_*`` variables; a bad value fails with its name."""
        env = dict(os.environ if env is None else env)
        workdir = Path(env.get("ZHAOREN_HOME", Path.cwd() / ".zhaoren"))
        port_text = env.get("ZHAOREN_PORT", "8080")
        if not port_text.isdigit():
            raise ValueError(f"ZHAOREN_PORT must be a number, not {port_text!r}")
        retention_text = env.get("ZHAOREN_RETENTION_DAYS", "30")
        if not retention_text.isdigit() or not 1 <= int(retention_text) <= 3650:
            raise ValueError(
                f"ZHAOREN_RETENTION_DAYS must be a number of days from 1 to 3650, "
                f"not {retention_text!r}"
            )
        limits_text = env.get("ZHAOREN_RATE_LIMITS", "on").strip().lower()
        if limits_text not in {"on", "off"}:
            raise ValueError(f"ZHAOREN_RATE_LIMITS must be on or off, not {limits_text!r}")
        return cls(
            database_url=env.get(
                "ZHAOREN_DATABASE_URL", f"sqlite+aiosqlite:///{workdir / 'zhaoren.db'}"
            ),
            nlu_data=Path(env.get("ZHAOREN_NLU_DATA", str(DEFAULT_NLU_DATA))),
            cache_dir=Path(env.get("ZHAOREN_CACHE_DIR", str(workdir / "models"))),
            host=env.get("ZHAOREN_HOST", "127.0.0.1"),
            port=int(port_text),
            telegram_token=env.get("ZHAOREN_TELEGRAM_TOKEN") or None,
            telegram_api=env.get("ZHAOREN_TELEGRAM_API") or None,
            redis_url=env.get("ZHAOREN_REDIS_URL") or None,
            redis_prefix=env.get("ZHAOREN_REDIS_PREFIX") or "zhaoren:",
            secret_key=env.get("ZHAOREN_SECRET_KEY", "dev-only-secret"),
            rasa_url=(env.get("ZHAOREN_RASA_URL") or "").rstrip("/") or None,
            retention_days=int(retention_text),
            rate_limits=limits_text == "on",
            rest_secret=env.get("ZHAOREN_REST_SECRET") or None,
            trusted_proxies=tuple(
                p.strip() for p in env.get("ZHAOREN_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
        )

    @property
    def uses_project_data(self) -> bool:
        """True when the NLU runs on zhaoren's own training data."""
        return self.nlu_data.resolve() == DEFAULT_NLU_DATA.resolve()
