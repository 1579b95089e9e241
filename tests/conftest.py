from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.harness import DEFAULT_CATALOGUE, PRODUTOS_CATALOGUE, MigratedDatabase, Templates
from worker.offline.postgres import LocalPostgres
from worker.offline.services import OfflineServices


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalPostgres]:
    pg = LocalPostgres().start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def templates(cluster: LocalPostgres) -> Templates:
    return Templates(cluster)


@pytest.fixture
def fresh_db(templates: Templates) -> MigratedDatabase:
    """A database of its own for one test: no other test's jobs can be claimed or running there."""
    return templates.fresh_database()


@pytest.fixture(scope="module")
def db(templates: Templates) -> MigratedDatabase:
    """A fresh, fully migrated database (default `public.products`) for one test module."""
    return templates.fresh_database(DEFAULT_CATALOGUE)


@pytest.fixture(scope="module", params=["products", "produtos"])
def catalogue_db(request: pytest.FixtureRequest, templates: Templates) -> MigratedDatabase:
    """Both renderings: the default table and the user's own `produtos(id bigint, ...)`."""
    catalogue = DEFAULT_CATALOGUE if request.param == "products" else PRODUTOS_CATALOGUE
    return templates.fresh_database(catalogue)


@pytest.fixture
async def conn(db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db.dsn)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def services() -> AsyncIterator[OfflineServices]:
    """The offline stand-ins (OFF, image host, Storage API) on 127.0.0.1, fresh per test."""
    async with OfflineServices() as running:
        yield running
