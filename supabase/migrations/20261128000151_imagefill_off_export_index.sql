-- Imagefill: what `imagefill off-index` reads from the catalogue.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- The catalogue's valid GTINs: the only barcodes worth keeping from OFF's bulk export (the
-- table and its columns depend on the rendering, so the worker asks this function).
create or replace function imagefill.catalogue_gtins()
returns table (gtin text)
language sql
stable
set search_path = ''
as $$
  select distinct p.gtin from public.products p where p.gtin is not null
$$;

revoke all on function imagefill.catalogue_gtins() from public;
grant execute on function imagefill.catalogue_gtins() to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000151', 'imagefill_off_export_index', '7affe4573747545ecfb570f6382902c2b5001c5dd4f3f323277f91debf846598')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
