"""Runs the pgTAP files in supabase/tests with Debian's pg_prove, as `supabase test db` would."""

from __future__ import annotations

import shutil
import subprocess

from tests.harness import ROOT, Templates


def test_pgtap_suite_passes(templates: Templates) -> None:
    db = templates.fresh_database()
    db.cluster.psql("create extension if not exists pgtap with schema extensions", dbname=db.name)
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, "pg_prove ausente: rode `make setup` (instala postgresql-15-pgtap)"
    files = sorted(str(p) for p in (ROOT / "supabase" / "tests").glob("*.test.sql"))
    assert len(files) >= 5
    result = subprocess.run(
        [
            pg_prove,
            "--verbose",
            "--failures",
            "-h",
            "127.0.0.1",
            "-p",
            str(db.cluster.port),
            "-U",
            "postgres",
            "-d",
            db.name,
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
