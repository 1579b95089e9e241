"""The Realtime stand-in through the real Python client (`realtime`, supabase-py's): an operator's
private join of `imagefill:progress` is admitted by the RLS policy and receives the broadcast a
completed job sends; a signed-in non-operator's join and token refresh are refused, as the real
service refuses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from tests.harness import DEFAULT_CATALOGUE, MigratedDatabase, ean13, insert_products, wait_until
from worker.offline.panel import serve
from worker.offline.postgrest import PostgrestStandIn
from worker.offline.realtime_server import RealtimeStandIn

OPERATOR = "11111111-1111-4111-8111-111111111111"
STRANGER = "22222222-2222-4222-8222-222222222222"


@dataclass
class Supabase:
    url: str
    postgrest: PostgrestStandIn
    realtime: RealtimeStandIn
    db: MigratedDatabase

    def token(self, user_id: str) -> str:
        return str(self.postgrest.session_for(user_id, f"{user_id[:4]}@mercado.com.br")["access_token"])


@pytest.fixture
async def supabase(fresh_db: MigratedDatabase) -> AsyncIterator[Supabase]:
    conn = await asyncpg.connect(fresh_db.superuser_dsn)
    try:  # operators are the users in a table (as the README shows), so a stranger exists
        await conn.execute("create table public.operators (user_id uuid primary key)")
        await conn.execute("grant select on public.operators to authenticated")
        await conn.execute("insert into public.operators values ($1)", OPERATOR)
        await conn.execute(
            "create or replace function public.is_image_operator() returns boolean language sql stable"
            " set search_path = '' as $$ select exists (select 1 from public.operators o"
            " where o.user_id = auth.uid()) $$"
        )
    finally:
        await conn.close()
    postgrest = PostgrestStandIn(fresh_db.cluster.dsn(fresh_db.name, user="authenticator"))
    realtime = RealtimeStandIn(fresh_db.dsn)
    runner, url = await serve(realtime.attach(postgrest.app))
    try:
        yield Supabase(url, postgrest, realtime, fresh_db)
    finally:
        await runner.cleanup()


async def subscribe(
    supabase: Supabase, token: str, received: list[dict[str, Any]]
) -> tuple[AsyncRealtimeClient, list[tuple[str, str]]]:
    client = AsyncRealtimeClient(f"{supabase.url}/realtime/v1", token=supabase.postgrest.anon_key)
    await client.set_auth(token)
    states: list[tuple[str, str]] = []
    channel = client.channel("imagefill:progress", {"config": {"private": True}})  # type: ignore[typeddict-item]
    channel.on_broadcast("changed", received.append)
    await channel.subscribe(lambda state, error: states.append((str(state), str(error or ""))))
    return client, states


async def test_an_operator_receives_the_broadcast_of_a_completed_job(supabase: Supabase) -> None:
    received: list[dict[str, Any]] = []
    client, states = await subscribe(supabase, supabase.token(OPERATOR), received)
    try:
        assert states[0][0] == str(RealtimeSubscribeStates.SUBSCRIBED), states
        conn = await asyncpg.connect(supabase.db.dsn)
        try:
            await insert_products(conn, DEFAULT_CATALOGUE, [("Café", ean13(7))])
            await wait_until(lambda: asyncio.sleep(0, len(received) >= 1), within=10)
            await conn.execute("select pg_sleep(0.3)")  # past the coalescing window
            job = await conn.fetchval("select job_id from imagefill.claim_image_jobs('w1', 1)")
            await conn.execute(
                "select imagefill.complete_image_job($1, 'w1', 'needs_review', null, null, 0.4,"
                ' \'[{"url": "https://cdn.example/1.jpg", "source": "openfoodfacts"}]\'::jsonb)',
                job,
            )
            # The claim (queued → running) and the completion (→ done, product → review) each
            # changed counters; the completion's message arrives once committed.
            await wait_until(lambda: asyncio.sleep(0, len(received) >= 2), within=10)
        finally:
            await conn.close()
        message = received[-1]
        assert message["event"] == "changed" and message["payload"]["topic"] == "imagefill:progress"
        assert supabase.realtime.joins == [("realtime:imagefill:progress", "ok")]
    finally:
        await client.close()


async def test_a_non_operator_cannot_join_and_loses_the_channel_on_refresh(supabase: Supabase) -> None:
    received: list[dict[str, Any]] = []
    client, states = await subscribe(supabase, supabase.token(STRANGER), received)
    try:
        assert states[0][0] == str(RealtimeSubscribeStates.CHANNEL_ERROR), states
        assert (
            "You do not have permissions to read from this Channel topic: imagefill:progress" in states[0][1]
        )
    finally:
        await client.close()

    # An operator whose token is swapped for a stranger's loses the channel (the real channel
    # re-checks the policies on `access_token` and shuts down).
    client, states = await subscribe(supabase, supabase.token(OPERATOR), received)
    try:
        assert states[0][0] == str(RealtimeSubscribeStates.SUBSCRIBED), states
        await client.set_auth(supabase.token(STRANGER))
        await wait_until(lambda: asyncio.sleep(0, len(states) >= 2), within=10)
        assert str(RealtimeSubscribeStates.CLOSED) in {s for s, _ in states[1:]} or any(
            "permissions" in e for _, e in states[1:]
        ), states
        conn = await asyncpg.connect(supabase.db.dsn)
        try:
            await insert_products(conn, DEFAULT_CATALOGUE, [("Chá", ean13(8))])
        finally:
            await conn.close()
        await wait_until(lambda: asyncio.sleep(0, supabase.realtime.rows_seen >= 2), within=10)
        assert supabase.realtime.delivered == 0 and received == []
    finally:
        await client.close()
