"""Opening the database for a command, with the failures an operator meets turned into one line
of Portuguese that says what to do (unreachable host, wrong password, no migrations)."""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlparse

import asyncpg

from worker.schema import (
    installed_checksums,
    not_installed,
    render_migrations,
    requirement_met,
    stored_mapping,
)

CONNECT_TIMEOUT_SECONDS = 10.0


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or refused the login; the message says which and why."""


class NotMigrated(RuntimeError):
    """The database is reachable but Imagefill's migrations are not (all) installed."""


def describe_target(dsn: str) -> str:
    """`host:port/dbname` without user or password: safe to print and to log."""
    url = urlparse(dsn)
    return f"{url.hostname or 'localhost'}:{url.port or 5432}{url.path or '/postgres'}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "nome do host não encontrado (DNS)"
    if isinstance(exc, ConnectionRefusedError):
        return "conexão recusada (nenhum Postgres nessa porta?)"
    if isinstance(exc, TimeoutError):
        return "tempo esgotado (firewall, host errado ou rede sem rota)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EHOSTUNREACH):
        return (
            "rede inacessível — a conexão direta do Supabase é só IPv6; numa VPS só IPv4 use o"
            " session pooler (porta 5432 em *.pooler.supabase.com)"
        )
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return "usuário ou senha recusados"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "esse banco não existe"
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return "conexões esgotadas no servidor"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


async def connect(dsn: str, **kwargs: object) -> asyncpg.Connection:
    """asyncpg.connect, with a bounded wait and a readable error."""
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            **kwargs,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(unavailable_message(dsn, exc)) from None
    return conn


def unavailable_message(dsn: str, exc: BaseException) -> str:
    return (
        f"não foi possível conectar ao banco {describe_target(dsn)}: {_reason(exc)}."
        " Confira DATABASE_URL (ou --database-url)."
    )


async def missing_versions(conn: asyncpg.Connection) -> list[str]:
    """Imagefill migrations this package has that the database lacks: never recorded, or changed
    by this release (`imagefill migrate` applies them again). One waiting for something the
    database lacks (the bucket without the `storage` schema) is not missing: the worker's SQL does
    not depend on it, and `imagefill migrate` cannot apply it yet."""
    installed = await installed_checksums(conn)
    migrations = render_migrations(await stored_mapping(conn))
    if not installed:
        return [m.version for m in migrations]
    return [m.version for m in not_installed(migrations, installed) if await requirement_met(conn, m)]


async def require_migrations(conn: asyncpg.Connection, dsn: str) -> None:
    """Refuses a database without Imagefill; one that lacks only newer migrations is refused
    too (the worker's SQL would not match the functions it calls)."""
    missing = await missing_versions(conn)
    if not missing:
        return
    if not await conn.fetchval("select to_regclass('public.image_jobs') is not null"):
        raise NotMigrated(
            f"o banco {describe_target(dsn)} não tem as migrations do Imagefill:"
            " rode `imagefill migrate` (ou aplique-as com a Supabase CLI; veja o README)."
        )
    raise NotMigrated(
        f"o banco {describe_target(dsn)} tem uma versão antiga do Imagefill ({len(missing)}"
        f" migrations faltam ou mudaram nesta versão, a partir de {missing[0]}): rode `imagefill migrate`."
    )


async def connect_migrated(dsn: str) -> asyncpg.Connection:
    conn = await connect(dsn)
    try:
        await require_migrations(conn, dsn)
    except BaseException:
        await conn.close()
        raise
    return conn
