"""Supabase's own linter (`supabase db advisors`) finds no ERROR; each WARN is listed in docs/garantias.md."""

from __future__ import annotations

import json
import re

from tests.harness import ROOT, Templates, supabase_cli


def _accepted_warnings() -> set[str]:
    """Lint names listed in the table of accepted advisor warnings (docs/garantias.md)."""
    guarantees = (ROOT / "docs" / "garantias.md").read_text()
    section = guarantees.split("## Avisos aceitos do `supabase db advisors`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_advisors_report_no_error_and_only_accepted_warnings(templates: Templates) -> None:
    db = templates.fresh_database()
    result = supabase_cli(
        "db", "advisors", "--db-url", db.dsn, "--type", "all", "--level", "info", "--output-format", "json"
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["results"]
    errors = [f"{f['name']}: {f['detail']}" for f in findings if f["level"] == "ERROR"]
    assert errors == []
    unexplained = {f["name"] for f in findings if f["level"] == "WARN"} - _accepted_warnings()
    assert unexplained == set(), f"fix these or list them in docs/garantias.md with the reason: {unexplained}"


def test_advisors_do_catch_a_public_table_without_rls(templates: Templates) -> None:
    """Guards the test above: the linter really runs against our database."""
    db = templates.fresh_database()
    db.cluster.psql(
        "create table public.sem_rls (id int primary key); grant select on public.sem_rls to anon",
        dbname=db.name,
        user="postgres",
    )
    result = supabase_cli("db", "advisors", "--db-url", db.dsn, "--type", "all", "--output-format", "json")
    names = {f["name"] for f in json.loads(result.stdout)["results"] if f["level"] == "ERROR"}
    assert "rls_disabled_in_public" in names
