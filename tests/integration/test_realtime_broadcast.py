"""Broadcast from the database (75_realtime_broadcast.sql): one `realtime.send` per statement and
topic, bursts coalesced to one message per 250 ms with the trailing one flushed, joins admitted by
RLS on `realtime.messages` for operators only, and a database without Realtime keeps the step
pending instead of failing."""

from __future__ import annotations

import json

import asyncpg

from tests.harness import DEFAULT_CATALOGUE, MigratedDatabase, Templates, ean13, insert_products
from worker.migrate import apply_migrations, waiting_migrations
from worker.queue import JobQueue


async def messages(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "select topic, event from realtime.messages where topic like 'imagefill:%'"
        " order by inserted_at, topic"
    )
    return [(r["topic"], r["event"]) for r in rows]


async def test_a_bulk_insert_sends_one_message_per_topic_not_per_row(fresh_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        await insert_products(conn, DEFAULT_CATALOGUE, [(f"P{i}", ean13(i)) for i in range(500)])
        sent = await messages(conn)
        assert sorted(sent) == [("imagefill:jobs", "enqueued"), ("imagefill:progress", "changed")]
        assert await conn.fetchval(
            "select bool_and(private and extension = 'broadcast') from realtime.messages"
        )
    finally:
        await conn.close()


async def test_a_burst_is_coalesced_and_its_last_change_is_flushed(fresh_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(fresh_db.dsn)
    try:
        ids = await insert_products(conn, DEFAULT_CATALOGUE, [(f"P{i}", ean13(i)) for i in range(40)])
        await conn.execute("delete from realtime.messages")
        await conn.execute("select pg_sleep(0.3)")  # past the insert's window
        # 40 statements in a row, each moving one product into review: 40 counter changes.
        for product_id in ids:
            await conn.execute(
                "update public.products set image_status = 'needs_review' where id = $1::uuid", product_id
            )
        sent = await messages(conn)
        progress = sum(1 for topic, _ in sent if topic == "imagefill:progress")
        review = sum(1 for topic, _ in sent if topic == "imagefill:review")
        assert 1 <= progress < 40 and 1 <= review < 40, sent
        pending = await conn.fetchval("select count(*) from imagefill.realtime_sent where pending")
        # The last changes fell inside a window (on a slow machine one topic's last change may
        # have opened a new window and been sent at once).
        assert 1 <= pending <= 2
        # The worker's poll tick sends them once the window has passed.
        await conn.execute("select pg_sleep(0.3)")
        assert await conn.fetchval("select imagefill.flush_broadcasts()") == pending
        assert await conn.fetchval("select imagefill.flush_broadcasts()") == 0
        assert len(await messages(conn)) == len(sent) + pending
    finally:
        await conn.close()


async def can_read_probe(conn: asyncpg.Connection, topic: str, claims: dict[str, str] | None) -> bool:
    """The real service's join check: insert a probe for the topic, read it back as the joining
    user under RLS, roll back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        probe = await conn.fetchval(
            "insert into realtime.messages (topic, extension, private) values ($1, 'broadcast', true)"
            " returning id",
            topic,
        )
        await conn.execute(
            "select set_config('role', $1, true), set_config('realtime.topic', $2, true),"
            " set_config('request.jwt.claims', $3, true)",
            (claims or {}).get("role", "anon"),
            topic,
            json.dumps(claims or {"role": "anon"}),
        )
        return bool(await conn.fetchval("select count(*) from realtime.messages where id = $1", probe))
    finally:
        await transaction.rollback()


async def test_only_operators_may_read_the_panel_topics(fresh_db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(fresh_db.superuser_dsn)
    try:
        await conn.execute("create table public.operators (user_id uuid primary key)")
        await conn.execute(
            "create or replace function public.is_image_operator() returns boolean language sql stable"
            " set search_path = '' as $$ select exists (select 1 from public.operators o"
            " where o.user_id = auth.uid()) $$"
        )
        await conn.execute("grant select on public.operators to authenticated")
        operator = "11111111-1111-4111-8111-111111111111"
        stranger = "22222222-2222-4222-8222-222222222222"
        await conn.execute("insert into public.operators values ($1)", operator)
        as_operator = {"role": "authenticated", "sub": operator}
        as_stranger = {"role": "authenticated", "sub": stranger}
        assert await can_read_probe(conn, "imagefill:progress", as_operator)
        assert await can_read_probe(conn, "imagefill:review", as_operator)
        assert not await can_read_probe(conn, "imagefill:progress", as_stranger)
        assert not await can_read_probe(conn, "imagefill:progress", None)
        assert not await can_read_probe(conn, "imagefill:jobs", as_operator)
        assert not await can_read_probe(conn, "another:topic", as_operator)
        assert await conn.fetchval("select count(*) from realtime.messages") == 0  # all rolled back
    finally:
        await conn.close()


async def test_without_realtime_the_step_stays_pending(templates: Templates) -> None:
    db = templates.empty_database()
    db.cluster.psql("drop schema realtime cascade", dbname=db.name)
    applied = await apply_migrations(db.dsn)
    assert "realtime_broadcast" not in {m.name for m in applied}
    conn = await asyncpg.connect(db.dsn)
    try:
        waiting = await waiting_migrations(conn)
        assert [m.name for m in waiting] == ["imagefill_realtime_broadcast"]
        assert waiting[0].requires_why and "Realtime" in waiting[0].requires_why
        assert await conn.fetchval("select to_regclass('imagefill.realtime_sent')") is None
        # The catalogue still works, with no trigger calling a function that is not there.
        await insert_products(conn, DEFAULT_CATALOGUE, [("P", ean13(1))])
        assert await conn.fetchval("select count(*) from public.image_jobs") == 1
    finally:
        await conn.close()


async def test_the_workers_poll_tick_sends_what_a_burst_left_pending(templates: Templates) -> None:
    """JobQueue.flush_broadcasts (called by the runner on each poll tick)."""
    db = templates.fresh_database()
    bare = templates.empty_database()
    bare.cluster.psql("drop schema realtime cascade", dbname=bare.name)
    await apply_migrations(bare.dsn)
    for target, expected in ((db, 2), (bare, 0)):
        pool = await asyncpg.create_pool(target.dsn, min_size=1, max_size=2)
        assert pool is not None
        try:
            if expected:
                await pool.execute(
                    "insert into imagefill.realtime_sent (topic, sent_at, pending)"
                    " values ('imagefill:progress', now() - interval '1 s', true),"
                    " ('imagefill:review', now() - interval '1 s', true)"
                )
            queue = JobQueue(pool, "w-flush", 60)
            assert await queue.flush_broadcasts() == expected
            assert await queue.flush_broadcasts() == 0
        finally:
            await pool.close()


async def test_a_repeatable_read_writer_is_never_failed_by_a_ping(fresh_db: MigratedDatabase) -> None:
    """Its snapshot predates the last send, so it cannot lock the coalescing row: its statement
    still succeeds and its ping goes out uncoalesced."""
    writer = await asyncpg.connect(fresh_db.dsn)
    other = await asyncpg.connect(fresh_db.dsn)
    try:
        [first] = await insert_products(writer, DEFAULT_CATALOGUE, [("A", ean13(1))])
        await writer.execute("select pg_sleep(0.3)")
        transaction = writer.transaction(isolation="repeatable_read")
        await transaction.start()
        await writer.execute("select 1")  # the snapshot
        await other.execute("select pg_sleep(0.3)")
        await insert_products(other, DEFAULT_CATALOGUE, [("B", ean13(2))])  # updates the row after it
        await writer.execute("select pg_sleep(0.3)")
        await writer.execute(
            "update public.products set image_status = 'needs_review' where id = $1::uuid", first
        )
        await transaction.commit()
        sent = await messages(other)
        assert sent.count(("imagefill:review", "changed")) == 1, sent
    finally:
        await writer.close()
        await other.close()
