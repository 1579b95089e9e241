"""Inserting products wakes listeners: one NOTIFY per statement, not one per row."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.harness import MigratedDatabase, ean13, insert_products


async def _drain_until_marker(queue: asyncio.Queue[str], writer: asyncpg.Connection) -> list[str]:
    """Everything delivered before a marker NOTIFY sent now (delivery is in commit order)."""
    await writer.execute("select pg_notify('imagefill_jobs', 'marker')")
    received = []
    while (payload := await asyncio.wait_for(queue.get(), timeout=10)) != "marker":
        received.append(payload)
    return received


async def test_product_insert_delivers_one_notification_per_statement(catalogue_db: MigratedDatabase) -> None:
    listener = await asyncpg.connect(catalogue_db.dsn)
    writer = await asyncpg.connect(catalogue_db.dsn)
    queue: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener("imagefill_jobs", lambda *args: queue.put_nowait(args[3]))

        await insert_products(writer, catalogue_db.catalogue, [("Café 500g", ean13(10))])
        assert await _drain_until_marker(queue, writer) == ["enqueued"]

        await insert_products(
            writer, catalogue_db.catalogue, [(f"Lote {i}", ean13(1000 + i)) for i in range(2000)]
        )
        assert await _drain_until_marker(queue, writer) == ["enqueued"], (
            "a bulk insert must wake workers once"
        )

        await insert_products(writer, catalogue_db.catalogue, [("EAN inválido", "7891234567890")])
        assert await _drain_until_marker(queue, writer) == [], "no job enqueued, no wake-up"
    finally:
        await listener.close()
        await writer.close()
