"""`imagefill demo`: the whole thing offline, on the embedded default.

A throwaway Postgres with Supabase's platform stand-in and the migrations, ~30 seeded products,
offline stand-ins for Open Food Facts (real responses) and its image host, local storage, then the
same backfill a user runs, and a table of what happened to each product.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

from worker.backfill import run_backfill
from worker.logs import configure_logging
from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres
from worker.offline.seed import DEMO_PRODUCTS
from worker.offline.services import OfflineServices
from worker.runner import run_worker
from worker.settings import load_settings

DEMO_STORAGE = Path(".local/demo-storage")


async def seed_demo_catalogue(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "insert into public.products (name, brand, ean) values ($1, $2, $3)",
        [(p.name, p.brand, p.ean) for p in DEMO_PRODUCTS],
    )


async def run_demo(console: Console) -> int:
    started = time.monotonic()
    if not console.is_terminal:
        console.width = max(console.width, 150)  # a log file has room for the whole table
    configure_logging(json_output=False, level="WARNING")
    console.print("[bold]Imagefill — demonstração offline[/bold]")
    storage_dir = await asyncio.to_thread(_fresh_storage_dir)
    with LocalPostgres() as pg:
        pg.install_platform_standin()
        dsn = pg.dsn(user="postgres")
        applied = await apply_migrations(dsn)
        console.print(f"Postgres 15 local na porta {pg.port}; {len(applied)} migrations aplicadas.")
        conn = await asyncpg.connect(dsn)
        try:
            await seed_demo_catalogue(conn)
            console.print(
                f"{len(DEMO_PRODUCTS)} produtos cadastrados (os triggers já enfileiraram os com EAN válido)."
            )
            async with OfflineServices() as services:
                console.print(
                    f"Open Food Facts simulado em {services.off_base_url} (respostas reais do OFF, ODbL);"
                    f" imagens em {services.image_base_url}."
                )
                env = services.worker_env(dsn, storage="local")
                settings = load_settings(
                    **{key.lower(): value for key, value in env.items()},
                    local_storage_dir=storage_dir,
                    worker_poll_seconds=0.5,
                )
                report = await run_backfill(settings, 100, console)
                approved = await approve_as_operator(dsn)
                console.print(
                    f"Operador de demonstração aprovou {approved} candidatas do Open Food Facts pelo painel"
                    " (RPC approve_product_image); o worker baixa, normaliza e grava cada uma:"
                )
                stats = await run_worker(settings, once=True)
                console.print(f"{stats.completed} imagens gravadas, {stats.failed} falhas.")
            rows = await conn.fetch(
                """
                select p.id::text as id, p.name, p.ean, p.gtin, p.image_status::text as status,
                       p.image_source::text as source, p.image_url, p.image_confidence,
                       (select count(*) from jsonb_array_elements(p.image_candidate_urls) c
                         where coalesce((c ->> 'usable')::boolean, true)) as candidates
                  from public.products p order by p.image_status, p.name
                """
            )
        finally:
            await conn.close()

    table = Table("produto", "EAN", "status", "origem", "candidatas", "imagem", title="Resultado por produto")
    for row in rows:
        table.add_row(
            row["name"],
            row["ean"] if row["ean"] and row["ean"].strip() else "—",
            row["status"] + ("" if row["gtin"] or row["status"] == "ok" else " (EAN inválido)"),
            f"{row['source']} ({row['image_confidence']})" if row["source"] else "—",
            str(row["candidates"]),
            _short_location(row["image_url"], storage_dir) if row["image_url"] else "—",
        )
    console.print(table)
    console.print(
        f"Lote automático: {report.total} processados — ok: {report.ok}, needs_review: {report.needs_review},"
        f" erro: {report.error}. Produtos sem EAN válido não entram na fila."
    )
    console.print(
        f"Imagens em {storage_dir}/product-images/products/<id>/main.jpg e thumb_256.jpg."
        " Sem validador (OpenAI) configurado, toda candidata vai para revisão: nunca `ok` sem confiança."
    )
    console.print(f"Demonstração concluída em {time.monotonic() - started:.1f}s.")
    stored = sum(1 for row in rows if row["status"] == "ok")
    return 0 if report.total > 0 and report.error == 0 and stored == approved else 1


def _fresh_storage_dir() -> Path:
    """The demo's own folder, emptied so the table matches what is on disk."""
    shutil.rmtree(DEMO_STORAGE, ignore_errors=True)
    DEMO_STORAGE.mkdir(parents=True)
    return DEMO_STORAGE.resolve()


DEMO_OPERATOR = "00000000-0000-4000-8000-0000000de770"


async def approve_as_operator(dsn: str) -> int:
    """What a person does on /monitoramento: approve the best candidate of each product in review.
    Called exactly as supabase.rpc does it: role `authenticated`, the user's JWT claims set."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("set role authenticated")
        await conn.execute(
            "select set_config('request.jwt.claims', $1, false)",
            json.dumps({"sub": DEMO_OPERATOR, "role": "authenticated"}),
        )
        queue = await conn.fetch("select product_id, candidates from public.image_review_queue(200, 0)")
        approved = 0
        for row in queue:
            candidates = json.loads(row["candidates"])
            if candidates:
                await conn.execute(
                    "select public.approve_product_image($1, $2)", row["product_id"], candidates[0]["url"]
                )
                approved += 1
        return approved
    finally:
        await conn.close()


def _short_location(url: str, storage_dir: Path) -> str:
    """`products/<first 8 of the id>…/main.jpg?v=<hash>` — enough to find it on disk."""
    path = url.removeprefix(storage_dir.as_uri() + "/product-images/")
    parts = path.split("/")
    if len(parts) == 3:
        parts[1] = parts[1][:8] + "…"
    return "/".join(parts)
