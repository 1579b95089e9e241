-- Imagefill: every job belongs to a product of public.products, checked once per statement.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- This replaces a FOREIGN KEY image_jobs.product_id -> public.products ON DELETE CASCADE. A foreign
-- key checks each inserted job with its own query and locks its product row (a write and a WAL
-- record per job): a third of the enqueue's cost in a bulk insert of products. Here the same
-- rules hold, checked once per statement over the transition tables:
--   * a job can only be inserted for an existing product (error 23503, as a foreign key);
--   * a product that another transaction could delete meanwhile is locked FOR KEY SHARE until
--     commit, as a foreign key does; a product row this transaction wrote needs no lock
--     (no other transaction can delete it before we commit), which is every bulk-insert job;
--   * deleting (or truncating) products deletes their jobs; changing the key of a product
--     with jobs is refused (23503); a job's product_id can only change to an existing product.
-- One limit a foreign key does not have: in a REPEATABLE READ or SERIALIZABLE transaction, a
-- product delete, key change or TRUNCATE that races a job insert for that product can miss the
-- new job (a foreign key re-checks with a newer snapshot, or refuses with 40001). Such a job is
-- never handed out (the claim joins the product), and the periodic sweep deletes queued or
-- running jobs whose product is gone (delete_orphan_jobs), so the product's key is free again for
-- a new row within a sweep interval. Jobs already done or failed stay as history.

alter table public.image_jobs drop constraint if exists image_jobs_product_id_fkey;

-- The products named by `p_ids` exist, and are safe from a concurrent delete until commit.
create or replace function imagefill.lock_job_products(p_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_wanted bigint;
  v_locked bigint;
  v_missing text;
begin
  select count(distinct u.id) into v_wanted from unnest(p_ids) u(id);
  -- FOR KEY SHARE, as a foreign key: a delete waits for our commit; a product deleted by a
  -- transaction that commits while we wait is skipped here.
  select count(*) into v_locked
    from (select 1 from public.products p where p.id = any (p_ids) for key share of p) l;
  if v_locked < v_wanted then
    select min(u.id::text) into v_missing
      from unnest(p_ids) u(id)
     where not exists (select 1 from public.products p where p.id = u.id);
    raise exception 'o produto % não existe em public.products: um job precisa de um produto existente',
      coalesce(v_missing, '?')
      using errcode = '23503', hint = 'Confira o id do produto; apagar um produto apaga os jobs dele.';
  end if;
end
$$;

create or replace function imagefill.check_inserted_job_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_check uuid[];
begin
  -- Only products that are missing or that another transaction wrote need the check above. A
  -- product row this transaction wrote cannot be deleted by anyone else before we commit: that
  -- is every job of a bulk insert, so it costs one join and no lock. (xmin is 32 bits: a row
  -- frozen 2^32 transactions ago can look like ours; it then skips only the lock, not the check.)
  select array_agg(distinct j.product_id) into v_check
    from new_jobs j
    left join public.products p on p.id = j.product_id
   where p.id is null or p.xmin <> pg_catalog.pg_current_xact_id()::xid;
  if v_check is not null then
    perform imagefill.lock_job_products(v_check);
  end if;
  return null;
end
$$;

create or replace function imagefill.check_changed_job_product()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform imagefill.lock_job_products(array[new.product_id]);
  return null;
end
$$;

create or replace function imagefill.delete_jobs_of_deleted_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.image_jobs j using old_products o where j.product_id = o.id;
  return null;
end
$$;

create or replace function imagefill.delete_jobs_of_truncated_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.image_jobs;
  return null;
end
$$;

create or replace function imagefill.refuse_key_change_with_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.image_jobs j where j.product_id = old.id) then
    raise exception 'o produto % tem jobs de imagem: sua chave não pode mudar', old.id
      using errcode = '23503', hint = 'Apague o produto (os jobs vão junto) e insira-o de novo.';
  end if;
  return null;
end
$$;

-- Queued or running jobs whose product no longer exists (the limit above): they can never run,
-- and they would hold the product's active-job slot if the same key came back. Reads only the
-- active jobs (image_jobs_one_active_per_product), one product lookup each.
create or replace function imagefill.delete_orphan_jobs()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  delete from public.image_jobs j
   where j.status in ('queued', 'running')
     and not exists (select 1 from public.products p where p.id = j.product_id);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

revoke all on function imagefill.delete_orphan_jobs() from public;
grant execute on function imagefill.delete_orphan_jobs() to service_role;  -- the sweep runs as the worker

revoke all on function imagefill.lock_job_products(uuid[]), imagefill.check_inserted_job_products(),
  imagefill.check_changed_job_product(), imagefill.delete_jobs_of_deleted_products(),
  imagefill.delete_jobs_of_truncated_products(), imagefill.refuse_key_change_with_jobs() from public;

create or replace trigger image_jobs_product_exists
  after insert on public.image_jobs
  referencing new table as new_jobs
  for each statement execute function imagefill.check_inserted_job_products();

-- Row-level, but the WHEN is false for every update the queue makes (none lists product_id).
create or replace trigger image_jobs_product_change_exists
  after update of product_id on public.image_jobs
  for each row
  when (new.product_id is distinct from old.product_id)
  execute function imagefill.check_changed_job_product();

create or replace trigger imagefill_delete_jobs
  after delete on public.products
  referencing old table as old_products
  for each statement execute function imagefill.delete_jobs_of_deleted_products();

create or replace trigger imagefill_delete_jobs_on_truncate
  after truncate on public.products
  for each statement execute function imagefill.delete_jobs_of_truncated_products();

create or replace trigger imagefill_key_change_with_jobs
  after update of id on public.products
  for each row
  when (new.id is distinct from old.id)
  execute function imagefill.refuse_key_change_with_jobs();

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000152', 'imagefill_job_product_integrity', 'd933f16644333aeed5b568b6ddf9c7d34f97d4addbcec44f5b59baa3928c8055')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
