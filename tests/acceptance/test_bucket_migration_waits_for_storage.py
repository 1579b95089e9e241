"""`imagefill migrate` on a database without Supabase's `storage` schema: the bucket step is not
recorded as applied with nothing done; it stays pending (migrate and status say why), the worker
still starts, and the next `imagefill migrate` after the schema appears creates the bucket."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from tests.acceptance.test_cli_commands import imagefill
from tests.harness import Templates
from worker.schema import render_migrations

BUCKET_STEP = "20261128000107_imagefill_storage_bucket"


async def test_the_bucket_step_waits_for_the_storage_schema(templates: Templates, tmp_path: Path) -> None:
    db = templates.empty_database()
    db.cluster.psql("drop schema storage cascade", dbname=db.name)
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATABASE_URL": db.dsn,
        "STORAGE_BACKEND": "local",
        "RATE_LIMIT_DIR": str(tmp_path / "rl"),
    }
    total = len(render_migrations())

    async def recorded() -> set[str]:
        conn = await asyncpg.connect(db.dsn)
        try:
            rows = await conn.fetch("select version || '_' || name as step from imagefill.schema_migrations")
            return {r["step"] for r in rows}
        finally:
            await conn.close()

    first = await imagefill(env, tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert f"{total - 1} migrations aplicadas" in first.stdout, first.stdout
    assert f"pendente {BUCKET_STEP}: este banco não tem o schema `storage`" in first.stdout, first.stdout
    assert BUCKET_STEP not in await recorded()

    again = await imagefill(env, tmp_path, "migrate")
    assert f"Nada a aplicar: o banco já tem as {total - 1} migrations" in again.stdout, again.stdout
    assert f"pendente {BUCKET_STEP}" in again.stdout, again.stdout
    status = await imagefill(env, tmp_path, "status")
    assert status.returncode == 0 and f"pendente {BUCKET_STEP}" in status.stdout, (
        status.stdout + status.stderr
    )
    # The worker's SQL does not need the bucket: a pending bucket step is not "not migrated".
    run = await imagefill(env, tmp_path, "run", "--once")
    assert run.returncode == 0, run.stdout + run.stderr

    db.cluster.install_platform_standin(db.name)  # Supabase Storage arrives
    later = await imagefill(env, tmp_path, "migrate")
    assert "1 migrations aplicadas" in later.stdout and f"aplicada {BUCKET_STEP}" in later.stdout, (
        later.stdout
    )
    assert "pendente" not in later.stdout
    assert BUCKET_STEP in await recorded()
    conn = await asyncpg.connect(db.dsn)
    try:
        bucket = await conn.fetchrow(
            "select public, file_size_limit from storage.buckets where id = 'product-images'"
        )
    finally:
        await conn.close()
    assert bucket is not None and tuple(bucket) == (True, 5 * 1024 * 1024)
    last = await imagefill(env, tmp_path, "migrate")
    assert f"Nada a aplicar: o banco já tem as {total} migrations" in last.stdout, last.stdout
