"""The benchmark's PostgreSQL: reset before a run, read leads after, notice other clients."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.common import port_open

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/zhaoren_bench"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True, slots=True)
class Postgres:
    """A loopback PostgreSQL database given by its SQLAlchemy URL."""

    url: str = DEFAULT_URL

    def __post_init__(self) -> None:
        if not self.url.startswith("postgresql+asyncpg://"):
            raise ValueError("the PostgreSQL URL must start with postgresql+asyncpg://")
        if self.host not in LOOPBACK:
            raise ValueError(f"only loopback PostgreSQL is allowed, not {self.host!r}")

    @property
    def dsn(self) -> str:
        """The same database as a plain ``postgresql://`` DSN for asyncpg."""
        return "postgresql://" + self.url.split("://", 1)[1]

    @property
    def host(self) -> str:
        return urlsplit(self.dsn).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.dsn).port or 5432

    @property
    def database(self) -> str:
        return urlsplit(self.dsn).path.lstrip("/") or "postgres"

    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"

    def reachable(self) -> bool:
        return port_open(self.host, self.port)

    async def reset(self) -> None:
        """Create the database if missing and drop zhaoren's tables so migrations run fresh."""
        import asyncpg  # type: ignore[import-untyped]

        try:
            connection = await asyncpg.connect(self.dsn, timeout=10)
        except asyncpg.InvalidCatalogNameError:
            admin = await asyncpg.connect(self.dsn.rsplit("/", 1)[0] + "/postgres", timeout=10)
            try:
                await admin.execute(f'CREATE DATABASE "{self.database}"')
            finally:
                await admin.close()
            connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            # Every table, including those later migrations add.
            await connection.execute("DROP SCHEMA public CASCADE")
            await connection.execute("CREATE SCHEMA public")
        finally:
            await connection.close()

    async def leads(self) -> list[tuple[int, str | None]]:
        """Every lead's sequence number and phone."""
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            rows = await connection.fetch("SELECT seq, phone FROM leads")
            return [(int(row["seq"]), row["phone"]) for row in rows]
        finally:
            await connection.close()

    async def other_clients(self, server_pid_hint: int | None = None) -> list[str]:
        """Sessions on this database that are not ours (the server's pool or this one)."""
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            rows = await connection.fetch(
                "SELECT pid, application_name, client_addr, backend_start, state, "
                "left(query, 60) AS query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()
        return [
            f"pid {r['pid']} {r['state']} since {r['backend_start']:%H:%M:%S}: {r['query']!r}"
            for r in rows
        ]
