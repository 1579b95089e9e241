-- Imagefill: triggers that turn "this product has no image" into a queued job.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Rules: a product that lacks an image (missing or error) and has a valid GTIN is enqueued on
-- insert and when a person changes it (EAN, name, brand or status); an `ok` product is never
-- enqueued automatically; a picture a person writes into the picture column ends its queued
-- jobs; changes made by Imagefill's own functions never enqueue.
-- The product triggers are statement-level with transition tables: a bulk insert of 10,000
-- products is one INSERT into image_jobs, which sends one NOTIFY.

-- plpgsql, not sql: a SQL function with a SET clause is never inlined, and called from a trigger
-- it is parsed and planned again in every transaction; plpgsql keeps its compiled form.
create or replace function imagefill.is_automation()
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce(current_setting('imagefill.automation', true), '') = 'on';
end
$$;

-- A new EAN makes earlier candidates meaningless: back to `missing` (unless the image is ok).
-- BEFORE row trigger because the generated gtin is not yet computed here; compare the inputs.
-- SECURITY DEFINER: it runs as the app's role (authenticated, service_role), which may not use
-- imagefill.is_automation() (an EAN edited by the app was refused with "permission denied").
create or replace function imagefill.reset_image_state_on_ean_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if public.normalize_gtin(new.ean) is distinct from old.gtin
     and old.image_status <> 'ok' and not imagefill.is_automation() then
    new.image_status := 'missing';
  end if;
  return new;
end
$$;

create or replace function imagefill.enqueue_inserted_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- Job ids: one random UUID per statement, its last 8 hex digits replaced by the row number
  -- (90 random bits left, still version 4). gen_random_uuid() per row draws from OpenSSL each
  -- time (~7 % of a bulk insert in perf), and consecutive ids append to the primary key's
  -- right edge instead of landing on a random page.
  v_prefix text := left(gen_random_uuid()::text, 28);
begin
  -- No ON CONFLICT here (it costs a speculative insertion per row): these products did not
  -- exist before this statement, and no job can point at a product id that does not exist
  -- (53_job_product_integrity.sql: checked on insert, deleted with the product), so none of
  -- them has an active job yet.
  insert into public.image_jobs (id, product_id, kind, payload)
  select (v_prefix || lpad(to_hex(row_number() over ()), 8, '0'))::uuid,
         n.id, 'enrich', jsonb_build_object('gtin', n.gtin)
    from new_products n
   where n.image_status in ('missing', 'error') and n.gtin is not null;
  return null;
end
$$;

create or replace function imagefill.enqueue_updated_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if imagefill.is_automation() then
    return null;
  end if;
  -- A queued job of a product whose EAN became invalid would search for a code that no longer
  -- stands (and leave the product `fetching` when its stale result comes back): it ends here,
  -- with the reason. Fixing the EAN queues a new one below.
  update public.image_jobs j
     set status = 'failed', finished_at = now(), updated_at = now(),
         last_error = 'O EAN do produto mudou para um código inválido; corrija o código de barras e o produto volta para a fila.'
    from new_products n
    join old_products o on o.id = n.id
   where j.product_id = n.id and j.kind = 'enrich' and j.status = 'queued'
     and n.gtin is null and o.gtin is not null;
  -- A person's picture arrived in the picture column (20_install_and_operations.sql made the
  -- product ok/manual): nothing is left to look for, so a job still queued for it ends here,
  -- unrun, as a completion that kept the person's choice. A running one finishes and keeps it
  -- too (complete_image_job never overwrites a manual picture).
  with ended as (
    update public.image_jobs j
       set status = 'done', finished_at = now(), updated_at = now(),
           result = jsonb_build_object('outcome', 'kept_human_choice')
      from new_products n
      join old_products o on o.id = n.id
     where j.product_id = n.id and j.status = 'queued'
       and n.image_status = 'ok' and n.image_source = 'manual'
       and n.image_url is distinct from o.image_url
    returning j.id, j.product_id
  )
  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  select e.id, e.product_id, 'complete', 'kept_human_choice',
         jsonb_build_object('reason', 'picture written into the picture column')
    from ended e;
  insert into public.image_jobs (product_id, kind, payload)
  select n.id, 'enrich', jsonb_build_object('gtin', n.gtin)
    from new_products n
    join old_products o on o.id = n.id
   where n.image_status in ('missing', 'error') and n.gtin is not null
     and (n.gtin is distinct from o.gtin
          or n.image_status is distinct from o.image_status
          or n.name is distinct from o.name
          or n.brand is distinct from o.brand)
  -- A job still queued takes the new EAN along (a run for the old code would be thrown away as
  -- stale after paying for it); a running one finishes, is found stale, and queues the new code.
  on conflict (product_id, kind) where status in ('queued', 'running') do update
     set payload = image_jobs.payload || jsonb_build_object('gtin', excluded.payload -> 'gtin'),
         updated_at = now()
   where image_jobs.status = 'queued'
     and image_jobs.payload ->> 'gtin' is distinct from excluded.payload ->> 'gtin';
  return null;
end
$$;

-- One NOTIFY per statement that really inserted jobs (a no-op ON CONFLICT sends none).
-- Identical notifications in one transaction are folded by Postgres into one delivery.
create or replace function imagefill.notify_image_jobs()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if exists (select 1 from inserted_jobs where status = 'queued') then
    perform pg_notify('imagefill_jobs', 'enqueued');
  end if;
  return null;
end
$$;

revoke all on function imagefill.is_automation(), imagefill.reset_image_state_on_ean_change(),
  imagefill.enqueue_inserted_products(), imagefill.enqueue_updated_products(),
  imagefill.notify_image_jobs() from public;

-- Fires only when the EAN text really changed: an UPDATE that merely lists the column (an app or
-- ORM writing back every column) evaluates this WHEN, never the function; the worker's own
-- updates do not list the EAN at all.
create or replace trigger imagefill_reset_on_ean_change
  before update of ean on public.products
  for each row
  when (new.ean is distinct from old.ean)
  execute function imagefill.reset_image_state_on_ean_change();

create or replace trigger imagefill_enqueue_on_insert
  after insert on public.products
  referencing new table as new_products
  for each statement execute function imagefill.enqueue_inserted_products();

create or replace trigger imagefill_enqueue_on_update
  after update on public.products
  referencing old table as old_products new table as new_products
  for each statement execute function imagefill.enqueue_updated_products();

create or replace trigger image_jobs_notify
  after insert on public.image_jobs
  referencing new table as inserted_jobs
  for each statement execute function imagefill.notify_image_jobs();

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000105', 'imagefill_enqueue_triggers', '53da1d749ba179b511b3bfe3492f35485cb0807d54aeea24ad3e0d897e7e31df')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
