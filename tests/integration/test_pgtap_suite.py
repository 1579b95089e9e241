"""Runs the pgTAP files in supabase/tests with Debian's pg_prove, as `supabase test db` would."""

from __future__ import annotations

import subprocess

from tests.harness import ROOT, Templates
from worker.offline.system_deps import system_file


def test_pgtap_suite_passes(templates: Templates) -> None:
    db = templates.fresh_database()
    db.cluster.psql("create extension if not exists pgtap with schema extensions", dbname=db.name)
    pg_prove = str(system_file("pg_prove"))
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
