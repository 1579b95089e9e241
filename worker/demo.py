"""`imagefill demo`: the whole thing offline, on the embedded default.

A throwaway Postgres with Supabase's platform stand-in and the migrations, ~30 seeded products,
offline stand-ins for Open Food Facts (real responses), its image host, OpenAI and the Brave image
search, local storage, then the same backfill a user runs, and a table of what happened to each
product: approved by the judge from Open Food Facts, found only through the image search, or left
for a person with ranked candidates.
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
from worker.costs import cost_usd
from worker.logs import configure_logging
from worker.migrate import apply_migrations
from worker.offline.postgres import LocalPostgres
from worker.offline.search_server import WebPicture
from worker.offline.seed import DEMO_PRODUCTS
from worker.offline.services import OfflineServices
from worker.runner import run_worker
from worker.settings import Settings, load_settings

DEMO_STORAGE = Path(".local/demo-storage")
# The operator approves, on the panel, review products whose best candidate the judge found close.
OPERATOR_MIN_CONFIDENCE = 0.7


def script_the_web(services: OfflineServices) -> None:
    """What the image search finds on the demo's "web" (pictures on the local image host, each
    marked with the product it shows, judged by the OpenAI stand-in)."""
    assert services.search is not None
    services.search.noise = 1
    # OFF does not know Nescau: a shop's packshot is found and approved (source search_api).
    services.search.add(
        "nescau",
        WebPicture("7891000053508", 9, "scene", 900, 900, "receitas.exemplo.com.br"),
        WebPicture("7891000053508", 9, "packshot", 900, 1100, "supermercado.exemplo.com.br"),
    )
    # Moça: a close but not certain match; the demo operator approves it on the panel.
    services.search.add("moça", WebPicture("7891000100103", 7, "packshot", 800, 800, "loja.exemplo.com.br"))
    # Sabão em pó: only doubtful pictures; left for a person, candidates ranked best first.
    services.search.add(
        "sabão em pó",
        WebPicture("7891149101009", 6, "packshot", 800, 800, "atacado.exemplo.com.br"),
        WebPicture("7891149101009", 4, "scene", 700, 700, "blog.exemplo.com.br"),
    )


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
                    f" imagens em {services.image_base_url}; OpenAI simulada em {services.openai_base_url};"
                    f" busca de imagens (Brave) simulada em {services.search_base_url}."
                )
                script_the_web(services)
                env = services.worker_env(dsn, storage="local", judge=True, search=True)
                settings = load_settings(
                    **{key.lower(): value for key, value in env.items()},
                    local_storage_dir=storage_dir,
                    worker_poll_seconds=0.5,
                )
                report = await run_backfill(settings, 100, console)
                approved = await approve_as_operator(dsn)
                console.print(
                    f"Operador de demonstração aprovou {approved} candidata(s) pelo painel (RPC"
                    " approve_product_image; as que a OpenAI achou parecidas,"
                    f" confiança ≥ {OPERATOR_MIN_CONFIDENCE});"
                    " o worker baixa, normaliza e grava cada uma:"
                )
                stats = await run_worker(settings, once=True)
                console.print(f"{stats.completed} imagens gravadas, {stats.failed} falhas.")
            rows = await conn.fetch(
                """
                select p.id::text as id, p.name, p.ean, p.gtin, p.image_status::text as status,
                       p.image_source::text as source, p.image_url, p.image_confidence,
                       (select count(*) from jsonb_array_elements(p.image_candidate_urls) c
                         where coalesce((c ->> 'usable')::boolean, true)) as candidates,
                       (select c from jsonb_array_elements(p.image_candidate_urls) c
                         where coalesce((c ->> 'usable')::boolean, true) and c ? 'confidence'
                         order by (c ->> 'confidence')::numeric desc limit 1) as best
                  from public.products p order by p.image_status, p.image_source, p.name
                """
            )
            usage = await conn.fetch("select * from imagefill.usage_summary()")
        finally:
            await conn.close()

    table = Table(
        "produto",
        "EAN",
        "status",
        "origem",
        "candidatas",
        "melhor candidata: confiança — motivo",
        "imagem",
        title="Resultado por produto",
    )
    for row in rows:
        best = json.loads(row["best"]) if row["best"] else None
        table.add_row(
            row["name"],
            row["ean"] if row["ean"] and row["ean"].strip() else "—",
            row["status"] + ("" if row["gtin"] or row["status"] == "ok" else " (EAN inválido)"),
            f"{row['source']} ({row['image_confidence']})" if row["source"] else "—",
            str(row["candidates"]),
            f"{best['confidence']:.2f} — {best.get('reason', '')}" if best else "—",
            _short_location(row["image_url"], storage_dir) if row["image_url"] else "—",
        )
    console.print(table)
    print_usage(console, usage, settings)
    console.print(
        f"Lote automático: {report.total} processados — ok: {report.ok}, needs_review: {report.needs_review},"
        f" erro: {report.error}. Produtos sem EAN válido não entram na fila."
    )
    console.print(
        f"Imagens em {storage_dir}/product-images/products/<id>/main.jpg e thumb_256.jpg."
        f" Aprovação automática só com match e confiança ≥ {settings.image_confidence_threshold:.2f};"
        " o resto fica para uma pessoa, com as candidatas em ordem (melhor primeiro)."
    )
    console.print(f"Demonstração concluída em {time.monotonic() - started:.1f}s.")
    stored = sum(1 for row in rows if row["status"] == "ok")
    by_judge = {row["source"] for row in rows if row["status"] == "ok" and row["image_confidence"] < 1}
    in_review = any(row["status"] == "needs_review" and row["best"] for row in rows)
    complete = {"openfoodfacts", "search_api"} <= by_judge and in_review
    return 0 if report.total > 0 and report.error == 0 and stored == report.ok + approved and complete else 1


def print_usage(console: Console, usage: list[asyncpg.Record], settings: Settings) -> None:
    """Tokens and estimated cost, from the stand-in's usage figures (modelled on OpenAI's accounting)."""
    for row in usage:
        if row["purpose"] == "image_search":
            console.print(f"Busca de imagens ({row['model']}): {row['requests']} requisições.")
            continue
        cost = cost_usd(settings.prices, row["model"], row["input_tokens"], row["output_tokens"])
        console.print(
            f"OpenAI {row['model']} ({row['purpose']}): {row['requests']} chamadas,"
            f" {row['input_tokens']} tokens de entrada, {row['output_tokens']} de saída"
            + (f", ~US$ {cost:.4f} (OPENAI_PRICES)" if cost is not None else "")
        )


def _fresh_storage_dir() -> Path:
    """The demo's own folder, emptied so the table matches what is on disk."""
    shutil.rmtree(DEMO_STORAGE, ignore_errors=True)
    DEMO_STORAGE.mkdir(parents=True)
    return DEMO_STORAGE.resolve()


DEMO_OPERATOR = "00000000-0000-4000-8000-0000000de770"


async def approve_as_operator(dsn: str) -> int:
    """What a person does on /monitoramento: approve the best candidate of the products in review
    whose best candidate the judge found close (the others stay for a closer look).
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
            close = (
                candidates
                and candidates[0].get("match")
                and candidates[0]["confidence"] >= OPERATOR_MIN_CONFIDENCE
            )
            if close:
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
