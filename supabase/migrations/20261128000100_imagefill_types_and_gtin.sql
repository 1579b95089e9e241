-- Imagefill: enums, the private `imagefill` schema and GTIN normalization.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- Worker-facing functions live here: the Data API does not expose this schema, and only
-- service_role (the worker) may use it.
create schema if not exists imagefill;
revoke all on schema imagefill from public;
grant usage on schema imagefill to service_role;
comment on schema imagefill is 'Imagefill worker functions (job queue). Not exposed through the Data API.';

-- What Imagefill installed, recorded by each rendered migration itself (whether the Supabase CLI,
-- `imagefill migrate` or the SQL Editor applied it). Kept apart from the CLI's
-- supabase_migrations.schema_migrations: the app's own history there stays the app's.
create table if not exists imagefill.schema_migrations (
  version text primary key,
  name text not null,
  applied_at timestamptz not null default now()
);
-- The rendered template's SHA-256: a release that changed a template is applied again (NULL: recorded
-- by a release that kept no checksum, so `imagefill migrate` applies it again once).
alter table imagefill.schema_migrations add column if not exists checksum text;
revoke all on imagefill.schema_migrations from public;
grant select on imagefill.schema_migrations to service_role;

do $$
begin
  if to_regtype('public.image_status') is null then
    create type public.image_status as enum ('ok', 'missing', 'fetching', 'needs_review', 'error');
  end if;
  if to_regtype('public.image_source') is null then
    create type public.image_source as enum ('openfoodfacts', 'search_api', 'browser', 'manual');
  end if;
  if to_regtype('public.image_job_status') is null then
    create type public.image_job_status as enum ('queued', 'running', 'done', 'failed');
  end if;
  -- enrich: the automatic pipeline; approve: download and store an image a person chose;
  -- browser: the operator-started headless-browser search.
  if to_regtype('public.image_job_kind') is null then
    create type public.image_job_kind as enum ('enrich', 'approve', 'browser');
  end if;
end
$$;

-- Digits only, GS1 check digit verified, GTIN-8 kept as is, UPC-A (12) and GTIN-14 with a
-- leading zero brought to 13 digits (the form Open Food Facts uses). NULL when invalid, so the
-- user's own `ean` text is never touched: this is computed beside it.
create or replace function public.normalize_gtin(p_code text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  v_digits text;
  v_len int;
  v_sum int := 0;
  v_pos int;
begin
  if p_code is null then
    return null;
  end if;
  -- People type EANs with spaces, dashes and dots between groups; letters make it invalid.
  v_digits := regexp_replace(p_code, '[[:space:].-]', '', 'g');
  if v_digits !~ '^[0-9]+$' then
    return null;
  end if;
  v_len := length(v_digits);
  if v_len not in (8, 12, 13, 14) or v_digits ~ '^0+$' then
    return null;
  end if;
  -- GS1 mod-10: weights 3,1,3,... from the digit left of the check digit.
  for v_pos in 1 .. v_len - 1 loop
    v_sum := v_sum + substr(v_digits, v_len - v_pos, 1)::int * (case when v_pos % 2 = 1 then 3 else 1 end);
  end loop;
  if (10 - v_sum % 10) % 10 <> substr(v_digits, v_len, 1)::int then
    return null;
  end if;
  if v_len = 12 then
    return '0' || v_digits;
  end if;
  if v_len = 14 and left(v_digits, 1) = '0' then
    return substr(v_digits, 2);
  end if;
  return v_digits;
end
$$;
comment on function public.normalize_gtin(text) is
  'Normalized GTIN (8, 13 or 14 digits) with a verified check digit, or NULL when invalid.';
grant execute on function public.normalize_gtin(text) to anon, authenticated, service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000100', 'imagefill_types_and_gtin', '907c31668200f9a9e683ba418a5b43668008e8507e36aaf4f180866c5c9ba617')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
