-- Imagefill: the public Storage bucket for product images.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
-- Only where Supabase Storage exists (a plain Postgres has no `storage` schema).

do $$
begin
  if to_regclass('storage.buckets') is not null then
    insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
    values ('product-images', 'product-images', true, 5242880,
            array['image/jpeg', 'image/png', 'image/webp'])
    on conflict (id) do nothing;
  end if;
end
$$;

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000107', 'imagefill_storage_bucket')
on conflict (version) do update set applied_at = now();
