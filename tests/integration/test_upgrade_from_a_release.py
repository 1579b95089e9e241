"""An install made by an earlier release, upgraded with `imagefill migrate`, ends with exactly the
schema of a fresh install: templates that a release changed in place (a function fixed, a trigger
added to an existing concern) are applied again, not skipped because their version is recorded.

`tests/releases/d4adb52/` is the default rendering as that release shipped it (its
`supabase/migrations/`), applied file by file as `supabase db push` did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from tests.harness import ROOT, Templates, ean13
from tests.integration.test_install_into_existing_project import imagefill
from worker.database import missing_versions
from worker.schema import render_migrations

RELEASE = ROOT / "tests" / "releases" / "d4adb52"

# Everything a migration defines, in a form two databases can be compared by: functions with
# their whole definition, triggers, policies, indexes, constraints, views, columns (by name, not
# position: `add column if not exists` on an upgrade appends), grants (in any order).
SCHEMA_QUERY = r"""
with ours as (select oid, nspname from pg_namespace where nspname in ('public', 'imagefill'))
select jsonb_build_object(
  'functions', (select jsonb_object_agg(n.nspname || '.' || p.proname || '(' ||
                                         pg_get_function_identity_arguments(p.oid) || ')',
                                         pg_get_functiondef(p.oid))
                  from pg_proc p join ours n on n.oid = p.pronamespace where p.prokind in ('f', 'p')),
  'function_grants', (select jsonb_object_agg(n.nspname || '.' || p.proname || '(' ||
                                               pg_get_function_identity_arguments(p.oid) || ')',
                                               pg_temp.acl_sorted(p.proacl))
                        from pg_proc p join ours n on n.oid = p.pronamespace where p.prokind in ('f', 'p')),
  'triggers', (select jsonb_object_agg(t.tgname || ' on ' || t.tgrelid::regclass::text,
                                        pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text)
                 from pg_trigger t where not t.tgisinternal),
  'policies', (select jsonb_object_agg(schemaname || '.' || tablename || ' ' || policyname,
                                        jsonb_build_object('cmd', cmd, 'roles', roles, 'qual', qual,
                                                           'with_check', with_check))
                 from pg_policies),
  'indexes', (select jsonb_object_agg(schemaname || '.' || indexname, indexdef)
                from pg_indexes where schemaname in ('public', 'imagefill')),
  'constraints', (select jsonb_object_agg(c.conrelid::regclass::text || ' ' || c.conname,
                                           pg_get_constraintdef(c.oid))
                    from pg_constraint c join ours n on n.oid = c.connamespace),
  'views', (select jsonb_object_agg(schemaname || '.' || viewname, definition)
              from pg_views where schemaname in ('public', 'imagefill')),
  'columns', (select jsonb_object_agg(table_schema || '.' || table_name || '.' || column_name,
                                       jsonb_build_object('type', data_type, 'default', column_default,
                                                          'nullable', is_nullable))
                from information_schema.columns where table_schema in ('public', 'imagefill')),
  'table_grants', (select jsonb_object_agg(c.oid::regclass::text, pg_temp.acl_sorted(c.relacl))
                     from pg_class c join ours n on n.oid = c.relnamespace
                    where c.relkind in ('r', 'v', 'm')),
  'buckets', (select jsonb_agg(to_jsonb(b) - 'created_at' - 'updated_at') from storage.buckets b)
)
"""


# Grants compare as sets: a re-applied GRANT may list the roles in another order.
ACL_SORTED = """
create function pg_temp.acl_sorted(acl aclitem[]) returns text language sql immutable as
$$ select coalesce((select string_agg(a, ',' order by a) from unnest(acl::text[]) a), 'default') $$
"""


async def schema_of(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(ACL_SORTED)
        described: dict[str, Any] = json.loads(await conn.fetchval(SCHEMA_QUERY))
        return described
    finally:
        await conn.close()


def release_files(release: Path) -> list[str]:
    return [path.read_text() for path in sorted(release.glob("*.sql"))]


async def install_release(dsn: str, files: list[str]) -> None:
    """As `supabase db push` applied it: every file in order, each in its own transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        for sql in files:
            async with conn.transaction():
                await conn.execute(sql)
        await conn.execute(
            "insert into public.products (name, brand, ean) values ('Sem foto', 'Marca', $1)", ean13(2)
        )
        await conn.execute(
            "insert into public.products (name, brand, ean, image_url, image_status, image_source,"
            " image_confidence, image_updated_at)"
            " values ('Com foto', 'Marca', $1, 'https://example.com/a.jpg', 'ok', 'openfoodfacts', 0.9,"
            " now())",
            ean13(1),
        )
    finally:
        await conn.close()


def differences(upgraded: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kind in fresh:
        a, b = upgraded[kind] or {}, fresh[kind] or {}
        if isinstance(b, dict):
            keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            if keys:
                found[kind] = {k: {"upgraded": a.get(k), "fresh": b.get(k)} for k in keys}
        elif a != b:
            found[kind] = {"upgraded": a, "fresh": b}
    return found


async def test_a_release_install_upgraded_by_migrate_has_the_schema_of_a_fresh_install(
    templates: Templates,
) -> None:
    old = templates.empty_database()
    await install_release(old.dsn, release_files(RELEASE))
    before = await asyncpg.connect(old.dsn)
    try:
        # The release's own records: no checksum column yet, and the worker refuses the database.
        recorded = {
            r["version"] for r in await before.fetch("select version from imagefill.schema_migrations")
        }
        assert recorded == {p.name.split("_", 1)[0] for p in RELEASE.glob("*.sql")}
        assert await missing_versions(before)
    finally:
        await before.close()

    upgrade = imagefill("migrate", "--database-url", old.dsn)
    assert upgrade.returncode == 0, upgrade.stderr
    lines = upgrade.stdout.splitlines()
    current = {m.version: m for m in render_migrations()}
    for version, migration in current.items():
        verb = "atualizada" if version in recorded else "aplicada"
        assert f"  {verb} {version}_{migration.name}" in lines, (version, upgrade.stdout)

    fresh = templates.empty_database()
    install = imagefill("migrate", "--database-url", fresh.dsn)
    assert install.returncode == 0, install.stderr

    assert differences(await schema_of(old.dsn), await schema_of(fresh.dsn)) == {}

    # Up to date now: nothing to apply, the worker accepts the database, and what the new release
    # added to an old concern works (a person's picture written into image_url is taken as theirs).
    again = imagefill("migrate", "--database-url", old.dsn)
    assert again.returncode == 0 and "Nada a aplicar" in again.stdout, again.stdout
    conn = await asyncpg.connect(old.dsn)
    try:
        assert await missing_versions(conn) == []
        row = await conn.fetchrow(
            "update public.products set image_url = 'https://example.com/b.jpg' where name = 'Sem foto'"
            " returning image_status::text, image_source::text"
        )
        assert tuple(row) == ("ok", "manual")
        kept = await conn.fetchrow(
            "select image_url, image_status::text from public.products where name = 'Com foto'"
        )
        assert tuple(kept) == ("https://example.com/a.jpg", "ok")
    finally:
        await conn.close()


async def test_a_template_changed_after_install_is_applied_again_and_only_it(templates: Templates) -> None:
    """The checksum, not the version, says whether a template is installed: a release that edits
    one template re-applies that one; the others stay as they are."""
    db = templates.empty_database()
    first = imagefill("migrate", "--database-url", db.dsn)
    assert first.returncode == 0, first.stderr
    conn = await asyncpg.connect(db.dsn)
    try:
        assert (
            await conn.fetchval("select count(*) from imagefill.schema_migrations where checksum is null")
            == 0
        )
        # What an edited template looks like to the database: its recorded checksum is another one.
        await conn.execute(
            "update imagefill.schema_migrations set checksum = 'from-an-older-release'"
            " where name = 'imagefill_queue_functions'"
        )
        assert len(await missing_versions(conn)) == 1
    finally:
        await conn.close()
    second = imagefill("migrate", "--database-url", db.dsn)
    assert second.returncode == 0, second.stderr
    touched = [line.strip() for line in second.stdout.splitlines() if line.startswith("  atualizada")]
    queue = next(m for m in render_migrations() if m.name == "imagefill_queue_functions")
    assert touched == [f"atualizada {queue.version}_{queue.name}"]
    assert "1 migrations aplicadas" in second.stdout
