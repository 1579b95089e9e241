"""`imagefill migrate`: applies supabase/migrations for users without the Supabase CLI.

Versions are recorded in the same table the Supabase CLI uses
(`supabase_migrations.schema_migrations`), so a project can move between the two freely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "supabase" / "migrations"
_FILENAME = re.compile(r"^(\d+)_(.+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


def list_migrations(directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if match:
            migrations.append(Migration(match.group(1), match.group(2), path))
    return migrations


async def applied_versions(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval("select to_regclass('supabase_migrations.schema_migrations') is not null")
    if not exists:
        return set()
    return {
        row["version"]
        for row in await conn.fetch("select version from supabase_migrations.schema_migrations")
    }


async def apply_migrations(dsn: str, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Applies the pending migrations in order, each in its own transaction. Returns them."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            create schema if not exists supabase_migrations;
            create table if not exists supabase_migrations.schema_migrations (
              version text primary key, statements text[], name text);
            """
        )
        done = await applied_versions(conn)
        applied = []
        for migration in list_migrations(directory):
            if migration.version in done:
                continue
            sql = migration.path.read_text()
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, statements, name)"
                    " values ($1, $2, $3)",
                    migration.version,
                    [sql],
                    migration.name,
                )
            applied.append(migration)
        return applied
    finally:
        await conn.close()
