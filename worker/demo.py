"""`imagefill demo`: the whole thing offline, on the embedded default.

Starts a throwaway Postgres with Supabase's platform stand-in, applies the migrations, seeds the
demo catalogue and shows what the worker has to do.
"""

from __future__ import annotations

import time

import asyncpg
from rich.console import Console
from rich.table import Table

from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres
from worker.offline.seed import DEMO_PRODUCTS


async def seed_demo_catalogue(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "insert into public.products (name, brand, ean) values ($1, $2, $3)",
        [(p.name, p.brand, p.ean) for p in DEMO_PRODUCTS],
    )


async def run_demo(console: Console) -> int:
    started = time.monotonic()
    console.print("[bold]Imagefill — demonstração offline[/bold]")
    with LocalPostgres() as pg:
        pg.install_platform_standin()
        dsn = pg.dsn(user="postgres")
        applied = await apply_migrations(dsn)
        console.print(f"Postgres local na porta {pg.port}; {len(applied)} migrations aplicadas.")
        conn = await asyncpg.connect(dsn)
        try:
            await seed_demo_catalogue(conn)
            rows = await conn.fetch(
                """
                select p.name, p.ean, p.gtin, p.image_status::text as status,
                       (select j.status::text from public.image_jobs j where j.product_id = p.id
                         order by j.created_at desc limit 1) as job
                  from public.products p order by p.name
                """
            )
        finally:
            await conn.close()
    table = Table("produto", "EAN digitado", "GTIN", "status", "job", title="O que o worker vai processar")
    for row in rows:
        table.add_row(
            row["name"], repr(row["ean"]), row["gtin"] or "inválido", row["status"], row["job"] or "—"
        )
    console.print(table)
    queued = sum(1 for r in rows if r["job"] == "queued")
    console.print(f"{queued} produtos na fila; demonstração em {time.monotonic() - started:.1f}s.")
    return 0
