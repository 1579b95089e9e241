-- Imagefill: image columns on the catalogue table public.products.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
-- Never drops or rewrites the user's data: the table is created only if absent, columns and
-- constraints are added only if absent.

do $$
begin
  if to_regclass('public.products') is null then
    create table public.products (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      brand text,
      ean text
    );
    -- Only for a table we created: an existing table keeps the owner's own RLS and grants.
    alter table public.products enable row level security;
    create policy "Signed-in users read the catalogue" on public.products
      for select to authenticated using (true);
    grant select on public.products to authenticated;
    grant select, insert, update, delete on public.products to service_role;
  end if;
end
$$;

do $$
declare
  v_had_status boolean;
  v_had_url boolean;
begin
  select exists (select 1 from pg_attribute
                 where attrelid = 'public.products'::regclass and attname = 'image_status' and not attisdropped),
         exists (select 1 from pg_attribute
                 where attrelid = 'public.products'::regclass and attname = 'image_url' and not attisdropped)
    into v_had_status, v_had_url;

  alter table public.products
    add column if not exists brand text,
    add column if not exists image_url text,
    add column if not exists image_status public.image_status not null default 'missing',
    add column if not exists image_source public.image_source,
    add column if not exists image_confidence numeric(4, 3),
    add column if not exists image_updated_at timestamptz,
    -- Audit of every candidate ever considered: url, source, confidence, reason, query.
    add column if not exists image_candidate_urls jsonb not null default '[]'::jsonb,
    add column if not exists image_reviewed_by uuid,
    add column if not exists image_reviewed_at timestamptz,
    -- Stored generated column (one table rewrite on first install): it can never drift from ean.
    -- Same value as public.normalize_gtin(ean), computed inline for the usual case: a
    -- code of only digits, of a GTIN length. A generated column calls a PL/pgSQL function once per
    -- row written (~8 us, half of a bulk insert's cost without triggers); these integer operations
    -- take ~1 us. Anything else (separators, letters, wrong length) is left to the function.
    -- GS1 mod-10 from the right: the check digit weighs 1, then 3, 1, 3, ...
    -- tests/integration/test_gtin_column_matches_function.py proves column = function.
    add column if not exists gtin text generated always as (
      case
        when ean is null then null
        when octet_length(ean::text) in (8, 12, 13, 14)
             and octet_length(ltrim(ean::text, '0123456789')) = 0 then
          case when ean::text::bigint > 0 and (
                       (ean::text::bigint % 10) +
                       3 * (ean::text::bigint / 10 % 10) +
                       (ean::text::bigint / 100 % 10) +
                       3 * (ean::text::bigint / 1000 % 10) +
                       (ean::text::bigint / 10000 % 10) +
                       3 * (ean::text::bigint / 100000 % 10) +
                       (ean::text::bigint / 1000000 % 10) +
                       3 * (ean::text::bigint / 10000000 % 10) +
                       (ean::text::bigint / 100000000 % 10) +
                       3 * (ean::text::bigint / 1000000000 % 10) +
                       (ean::text::bigint / 10000000000 % 10) +
                       3 * (ean::text::bigint / 100000000000 % 10) +
                       (ean::text::bigint / 1000000000000 % 10) +
                       3 * (ean::text::bigint / 10000000000000 % 10)
                     ) % 10 = 0 then
            case octet_length(ean::text)
              when 12 then '0' || ean::text
              -- a GTIN-14 with a leading 0 is its GTIN-13
              when 14 then case when ean::text::bigint < 10000000000000 then substr(ean::text, 2) else ean::text end
              else ean::text
            end
          end
        else public.normalize_gtin(ean)
      end) stored;

  -- A catalogue that stored "no picture" as '' or blanks (spaces, tabs, newlines): that is no picture (NULL), not a
  -- picture without provenance. Normalized, never rejected (the CHECK below would refuse it).
  if v_had_url then
    update public.products set image_url = null
     where image_url ~ '^[[:space:]]*$';
  end if;

  -- First install over a catalogue that already had pictures: a person put them there, so they
  -- count as manual, fully trusted images and are never re-enqueued.
  if not v_had_status and v_had_url then
    update public.products
       set image_status = 'ok', image_source = 'manual', image_confidence = 1, image_updated_at = now()
     where image_url is not null;
  end if;

  if not exists (select 1 from pg_constraint
                 where conrelid = 'public.products'::regclass and conname = 'products_image_provenance') then
    alter table public.products add constraint products_image_provenance check (
      -- No stored image without its provenance ...
      (image_url is null
        or (image_source is not null and image_confidence is not null and image_updated_at is not null))
      -- ... and no `ok` without a stored image.
      and (image_status <> 'ok' or image_url is not null)
    );
  end if;
  if not exists (select 1 from pg_constraint
                 where conrelid = 'public.products'::regclass and conname = 'products_image_confidence_range') then
    alter table public.products add constraint products_image_confidence_range
      check (image_confidence is null or (image_confidence >= 0 and image_confidence <= 1));
  end if;
end
$$;

-- Backfill scans: products still lacking an image, in key order.
create index if not exists products_image_pending_idx on public.products (id)
  where image_status in ('missing', 'error') and gtin is not null;
-- The review panel's queue.
create index if not exists products_image_review_idx on public.products (id)
  where image_status = 'needs_review';

comment on column public.products.gtin is 'Normalized GTIN computed from ean (NULL when invalid). Managed by Imagefill.';
comment on column public.products.image_candidate_urls is 'Every image candidate Imagefill considered: url, source, confidence, reason, query.';

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000101', 'imagefill_catalogue_columns')
on conflict (version) do update set applied_at = now();
