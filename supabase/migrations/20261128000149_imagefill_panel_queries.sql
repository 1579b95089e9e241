-- Imagefill: panel queries that stay flat as the catalogue grows: maintained counters, indexes.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- `image_backfill_progress(null)` and the review queue's total used to count the whole
-- catalogue on every call (two EXISTS subplans per product, a WindowAgg over every product in
-- review). Instead, statement-level triggers append signed deltas here ('products:ok' +1,
-- 'products:missing' -1, 'jobs:queued' +1, ...), and `compact_image_tally()` (run by the worker's
-- periodic sweep) folds them into one row per counter. Appending never waits for another
-- writer (a single counter row would serialize every worker on its row lock); a read sums at
-- most a few rows per counter plus the deltas since the last sweep.
-- Counters: 'products:<image_status>' and 'products:<image_status>:no_gtin' (EAN invalid), 'jobs:<status>'.

create table if not exists imagefill.image_tally (
  counter text not null,
  n bigint not null
);
comment on table imagefill.image_tally is
  'Imagefill: signed deltas of the panel counters; sum by counter. Maintained by triggers.';

-- The counter of a product row, written inline below (a SQL function with a SET clause is never
-- inlined, and this runs four times per job):
--   'products:' || image_status || case when gtin is null then ':no_gtin' else '' end
drop function if exists imagefill.product_counter(public.image_status, text);

-- One function for both tables and every event: TG_OP and TG_TABLE_NAME say which transition
-- tables exist. SECURITY DEFINER: a signed-in user's own catalogue edit must reach the tally.
create or replace function imagefill.tally_products()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into imagefill.image_tally (counter, n)
    select 'products:' || n.image_status::text || case when n.gtin is null then ':no_gtin' else '' end, count(*) from new_rows n group by 1;
  elsif tg_op = 'DELETE' then
    insert into imagefill.image_tally (counter, n)
    select 'products:' || o.image_status::text || case when o.gtin is null then ':no_gtin' else '' end, -count(*) from old_rows o group by 1;
  else
    -- An update moves rows between counters; most updates (candidates, review marks) move none.
    insert into imagefill.image_tally (counter, n)
    select c, sum(d) from (
      select 'products:' || o.image_status::text || case when o.gtin is null then ':no_gtin' else '' end as c, -1 as d from old_rows o
      union all
      select 'products:' || n.image_status::text || case when n.gtin is null then ':no_gtin' else '' end, 1 from new_rows n
    ) x group by c having sum(d) <> 0;
  end if;
  return null;
end
$$;

create or replace function imagefill.tally_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into imagefill.image_tally (counter, n)
    select 'jobs:' || n.status::text, count(*) from new_rows n group by 1;
  elsif tg_op = 'DELETE' then
    insert into imagefill.image_tally (counter, n)
    select 'jobs:' || o.status::text, -count(*) from old_rows o group by 1;
  else
    -- Lease renewals and adoptions into a batch change no status and write nothing here.
    insert into imagefill.image_tally (counter, n)
    select c, sum(d) from (
      select 'jobs:' || o.status::text as c, -1 as d from old_rows o
      union all
      select 'jobs:' || n.status::text, 1 from new_rows n
    ) x group by c having sum(d) <> 0;
  end if;
  return null;
end
$$;

-- TRUNCATE has no transition table: the counters of that table start again from zero.
create or replace function imagefill.tally_truncate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from imagefill.image_tally
   where counter like (case when tg_table_name = 'image_jobs' then 'jobs:%' else 'products:%' end);
  return null;
end
$$;

create or replace trigger imagefill_tally_insert after insert on public.products
  referencing new table as new_rows for each statement execute function imagefill.tally_products();
create or replace trigger imagefill_tally_update after update on public.products
  referencing old table as old_rows new table as new_rows for each statement execute function imagefill.tally_products();
create or replace trigger imagefill_tally_delete after delete on public.products
  referencing old table as old_rows for each statement execute function imagefill.tally_products();
create or replace trigger imagefill_tally_truncate after truncate on public.products
  for each statement execute function imagefill.tally_truncate();

create or replace trigger image_jobs_tally_insert after insert on public.image_jobs
  referencing new table as new_rows for each statement execute function imagefill.tally_jobs();
create or replace trigger image_jobs_tally_update after update on public.image_jobs
  referencing old table as old_rows new table as new_rows for each statement execute function imagefill.tally_jobs();
create or replace trigger image_jobs_tally_delete after delete on public.image_jobs
  referencing old table as old_rows for each statement execute function imagefill.tally_jobs();
create or replace trigger image_jobs_tally_truncate after truncate on public.image_jobs
  for each statement execute function imagefill.tally_truncate();

-- First install: count what is already there, once. The triggers above hold a lock that
-- keeps writers out until this migration commits, so no change slips between count and trigger.
do $$
begin
  if not exists (select 1 from imagefill.image_tally) then
    insert into imagefill.image_tally (counter, n)
    select 'products:' || p.image_status::text || case when p.gtin is null then ':no_gtin' else '' end, count(*) from public.products p group by 1;
    insert into imagefill.image_tally (counter, n)
    select 'jobs:' || j.status::text, count(*) from public.image_jobs j group by 1;
  end if;
end
$$;

-- Folds the deltas into one row per counter. Concurrent appends that are not yet committed are
-- not seen and stay for the next fold; two folds at once each delete a row at most once.
create or replace function imagefill.compact_image_tally()
returns integer
language plpgsql
security definer  -- the worker (service_role) may only read the tally directly
set search_path = ''
as $$
declare
  v_folded integer;
begin
  with gone as (
    delete from imagefill.image_tally returning counter, n
  ),
  folded as (
    insert into imagefill.image_tally (counter, n)
    select counter, sum(n) from gone group by counter having sum(n) <> 0
    returning 1
  )
  select (select count(*) from gone) into v_folded;
  return v_folded;
end
$$;

-- The current value of every counter, for the panel RPCs.
create or replace function imagefill.image_counters()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(counter, n), '{}'::jsonb)
    from (select counter, sum(n) as n from imagefill.image_tally group by counter) t
$$;

revoke all on table imagefill.image_tally from public, anon, authenticated;
grant select on table imagefill.image_tally to service_role;
revoke all on function imagefill.tally_products(),
  imagefill.tally_jobs(), imagefill.tally_truncate(), imagefill.compact_image_tally(),
  imagefill.image_counters() from public;
grant execute on function imagefill.compact_image_tally(), imagefill.image_counters() to service_role;

-- `imagefill status`: the oldest queued job, and failures grouped by error. Each reads only the
-- rows it reports on instead of scanning every job ever run.
create index if not exists image_jobs_queued_age_idx on public.image_jobs (created_at) where status = 'queued';
create index if not exists image_jobs_failed_idx on public.image_jobs (finished_at) where status = 'failed';

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000149', 'imagefill_panel_queries', '464924c8693f6d88c8157f2122627e83759e1fed669bf5f3d18f89c3ff8fcd73')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
