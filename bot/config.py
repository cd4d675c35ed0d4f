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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read ``ZHAOREN_*`` variables; a bad value fails with its name."""
        env = dict(os.environ if env is None else env)
        workdir = Path(env.get("ZHAOREN_HOME", Path.cwd() / ".zhaoren"))
        port_text = env.get("ZHAOREN_PORT", "8080")
        if not port_text.isdigit():
            raise ValueError(f"ZHAOREN_PORT must be a number, not {port_text!r}")
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
        )

    @property
    def uses_project_data(self) -> bool:
        """True when the NLU runs on zhaoren's own training data."""
        return self.nlu_data.resolve() == DEFAULT_NLU_DATA.resolve()
