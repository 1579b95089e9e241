-- Imagefill: the public Storage bucket for product images.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
-- Only where Supabase Storage exists (a plain Postgres has no `storage` schema). Without it this
-- migration is NOT recorded: it stays pending (`imagefill migrate` and `status` say why) and a
-- later `imagefill migrate` creates the bucket once the schema is there.
-- requires: to_regclass('storage.buckets') is not null
-- requires-why: este banco não tem o schema `storage` do Supabase Storage, então o bucket `product-images` ainda não foi criado (normal com STORAGE_BACKEND=local; com Supabase Storage, rode `imagefill migrate` de novo quando o schema existir)

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

-- Imagefill records what it installed, whichever tool applied this file; this one only
-- where it could do its work (see `requires` above): else it stays pending.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
select '20261128000107', 'imagefill_storage_bucket', '8e5533f340591403ce255bb166997410c96f97cd793ac06961c0f4292cec5a22' where to_regclass('storage.buckets') is not null
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
