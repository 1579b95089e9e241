"""The PostgREST/GoTrue test double behaves as the real servers do for the panel's calls: it checks
the JWT, runs the real function as the JWT's role with its claims, and maps SQL errors as PostgREST."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.harness import MigratedDatabase, Templates
from worker.offline.panel import serve
from worker.offline.postgrest import PostgrestStandIn, mint_jwt, postgrest_status

USER = "00000000-0000-4000-8000-0000000c0ffe"


@pytest.fixture(scope="module")
def standin_db(templates: Templates) -> MigratedDatabase:
    return templates.fresh_database()


@pytest.fixture(scope="module")
async def standin(standin_db: MigratedDatabase) -> AsyncIterator[tuple[PostgrestStandIn, str]]:
    stand_in = PostgrestStandIn(standin_db.cluster.dsn(standin_db.name, user="authenticator"))
    runner, url = await serve(stand_in.app)
    try:
        yield stand_in, url
    finally:
        await runner.cleanup()


async def rpc(url: str, fn: str, body: Any, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/rest/v1/rpc/{fn}", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


def user_token(**claims: Any) -> str:
    return mint_jwt({"sub": USER, "role": "authenticated", "exp": int(time.time()) + 600, **claims})


async def test_runs_the_function_as_the_jwt_role_with_its_claims(
    standin: tuple[PostgrestStandIn, str],
) -> None:
    _, url = standin
    status, body = await rpc(url, "image_backfill_progress", {}, user_token())
    assert status == 200 and body["total"] == 0
    status, body = await rpc(url, "image_review_queue", {"p_limit": 5}, user_token())
    assert (status, body) == (200, [])  # a set-returning function answers an array
    status, body = await rpc(url, "is_image_operator", {}, user_token())
    assert (status, body) == (200, True)
    status, body = await rpc(url, "is_image_operator", {}, user_token(sub=None))
    assert (status, body) == (200, False)  # auth.uid() really reads request.jwt.claims


async def test_anon_gets_401_and_bad_tokens_are_refused(standin: tuple[PostgrestStandIn, str]) -> None:
    stand_in, url = standin
    status, body = await rpc(url, "image_review_queue", {}, stand_in.anon_key)
    assert status == 401 and body["code"] == "42501"  # permission denied for function, anonymous
    status, body = await rpc(
        url, "image_review_queue", {}, mint_jwt({"role": "authenticated"}, "another-secret")
    )
    assert status == 401 and body["code"] == "PGRST301"
    status, body = await rpc(url, "image_review_queue", {}, user_token(exp=int(time.time()) - 5))
    assert status == 401 and body["code"] == "PGRST303"


async def test_sql_errors_become_postgrest_errors(standin: tuple[PostgrestStandIn, str]) -> None:
    _, url = standin
    status, body = await rpc(url, "enqueue_image_backfill", {"p_limit": 0}, user_token())
    assert status == 400 and body["code"] == "22023" and "p_limit" in body["message"]
    missing = str(uuid.uuid4())
    status, body = await rpc(
        url, "approve_product_image", {"p_product_id": missing, "p_url": "https://x/a.jpg"}, user_token()
    )
    assert status == 500 and body["code"] == "P0002"  # PostgREST maps P0* (but P0001) to 500
    status, body = await rpc(url, "no_such_function", {}, user_token())
    assert status == 404 and body["code"] == "PGRST202"


def test_status_mapping_follows_postgrest() -> None:
    assert postgrest_status("42501", authenticated=True) == 403
    assert postgrest_status("42501", authenticated=False) == 401
    assert postgrest_status("23505", authenticated=True) == 409
    assert postgrest_status("P0001", authenticated=True) == 400
    assert postgrest_status("PT404", authenticated=True) == 404
    assert postgrest_status("22P02", authenticated=True) == 400
    assert postgrest_status("08006", authenticated=True) == 503
