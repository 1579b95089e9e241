"""The generated `gtin` column computes clean digit codes inline (no function call per row) and
leaves the rest to `public.normalize_gtin`: on every input the column must equal the function
(and the Python rule), in both renderings of the catalogue (the user's own column names too)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import MigratedDatabase
from worker.gtin import check_digit, normalize_gtin

SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]


class Inserter:
    """Inserts codes as EANs and reads back (ean, gtin column, normalize_gtin(ean)) per code."""

    def __init__(self, db: MigratedDatabase) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(db.dsn))

    def rows(self, codes: list[str]) -> list[asyncpg.Record]:
        c = self.db.catalogue
        sql = (
            f"with ins as (insert into {c.qualified} ({c.name}, {c.ean})"
            f" select 'GTIN ' || n, code from unnest($1::text[]) with ordinality u(code, n)"
            f" returning {c.name} as name, {c.ean}::text as ean, gtin)"
            " select ean, gtin, public.normalize_gtin(ean) as by_function from ins"
            " order by substr(name, 6)::int"
        )

        async def go() -> list[asyncpg.Record]:
            async with self.conn.transaction():
                rows = list(await self.conn.fetch(sql, codes))
                await self.conn.execute(f"delete from {c.qualified} where {c.name} like 'GTIN %'")
                return rows

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def inserter(catalogue_db: MigratedDatabase) -> Iterator[Inserter]:
    ins = Inserter(catalogue_db)
    try:
        yield ins
    finally:
        ins.close()


def _with_check_digit(body: str, off_by: int = 0) -> str:
    return body + str((check_digit(body) + off_by) % 10)


@st.composite
def digit_codes(draw: st.DrawFn) -> str:
    """Only digits (the column's own path): right or wrong check digit, GTIN lengths and near
    them, leading zeros and all zeros."""
    length = draw(st.sampled_from([7, 8, 9, 11, 12, 13, 14, 15]))
    body = draw(
        st.one_of(
            st.text("0123456789", min_size=length - 1, max_size=length - 1),
            st.just("0" * (length - 1)),
            st.text("0", max_size=length - 2).map(lambda z: (z + "1").rjust(length - 1, "0")),
        )
    )
    return _with_check_digit(body, draw(st.sampled_from([0, 0, 1, 5, 9])))


@st.composite
def dressed_codes(draw: st.DrawFn) -> str:
    """Valid codes with separators, signs, letters or Unicode digits (the function's path)."""
    code = _with_check_digit(draw(st.text("0123456789", min_size=12, max_size=12)))
    i = draw(st.integers(0, len(code)))
    extra = draw(st.sampled_from([" ", "-", ".", "\t", "+", "a", "\u00a0", "٣", "３", "", "0"]))
    return code[:i] + extra + code[i:]


CODES = st.lists(
    st.one_of(digit_codes(), dressed_codes(), st.text("0123456789 -+.x", max_size=16)),
    min_size=1,
    max_size=40,
)


def test_known_codes_agree(inserter: Inserter) -> None:
    codes = [
        "7894900011517",  # EAN-13
        "7894900011518",  # bad check digit
        "737628064502",  # UPC-A -> 13 digits
        "22007377",  # GTIN-8
        "17894900011514",  # GTIN-14 with an indicator digit
        "07894900011517",  # GTIN-14 with a leading 0 -> GTIN-13
        "00000000",  # all zeros
        "0000000000000",
        "00000000000000",
        "99999999999999",
        "123456789012345",  # too long for any GTIN
        " 789 4900 01151-7 ",
        "+7894900011517",
        "",
    ]
    rows = inserter.rows(codes)
    assert [r["gtin"] for r in rows] == [r["by_function"] for r in rows]
    assert [r["gtin"] for r in rows] == [normalize_gtin(c) for c in codes]
    assert rows[0]["gtin"] == "7894900011517" and rows[2]["gtin"] == "0737628064502"
    assert rows[5]["gtin"] == "7894900011517" and rows[4]["gtin"] == "17894900011514"


def test_gtin_column_equals_normalize_gtin_on_any_code(inserter: Inserter) -> None:
    seen: dict[str, int] = {"valid": 0, "invalid": 0}

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=SLOW_OK)
    @given(CODES)
    def agrees(codes: list[str]) -> None:
        rows = inserter.rows(codes)
        assert [r["ean"] for r in rows] == codes
        for code, row in zip(codes, rows, strict=True):
            assert row["gtin"] == row["by_function"] == normalize_gtin(code), code
            seen["valid" if row["gtin"] else "invalid"] += 1

    agrees()
    assert seen["valid"] > 100 and seen["invalid"] > 100, seen
