-- Imagefill: what the worker's periodic sweep does (every WORKER_SWEEP_SECONDS, one worker at a
-- time): fail leases that expired on their last attempt, fold the panel counters, and apply the
-- retention policy to finished work.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- The event trail only grows: autovacuum must still visit it to set the visibility map (cheap
-- index-only scans) and freeze old rows, long before the default 20 % of inserted rows.
alter table public.image_job_events set (
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05
);

-- The retention scans: done jobs by age, events by age. Events are appended in time order, so a
-- BRIN index (a few pages for millions of rows) finds the old ones.
create index if not exists image_jobs_done_idx on public.image_jobs (finished_at) where status = 'done';
create index if not exists image_job_events_created_brin on public.image_job_events using brin (created_at);

-- Retention. What is kept forever: every product's image, source, confidence, review marks and
-- every candidate ever considered (image_candidate_urls), failed jobs (the panel's failures),
-- and every event of a person's decision (stage 'review': approvals, rejections).
-- What goes: done jobs finished more than p_done_days ago, and automatic stage events older than
-- p_event_days. NULL or 0 keeps that kind forever. At most p_batch rows of each per call, so
-- one sweep never holds long locks; the next sweep continues.
create or replace function imagefill.purge_image_history(
  p_done_days integer default 30,
  p_event_days integer default 90,
  p_batch integer default 5000
)
returns jsonb
language plpgsql
security definer  -- the event trail is insert-only for service_role; only this may delete from it
set search_path = ''
as $$
declare
  v_jobs integer := 0;
  v_events integer := 0;
begin
  if coalesce(p_done_days, 0) > 0 then
    with old as (
      select j.id from public.image_jobs j
       where j.status = 'done' and j.finished_at < now() - make_interval(days => p_done_days)
       order by j.finished_at
       limit p_batch
       for update skip locked
    )
    delete from public.image_jobs j using old where j.id = old.id;
    get diagnostics v_jobs = row_count;
  end if;

  if coalesce(p_event_days, 0) > 0 then
    -- image_job_events is append-only; this flag is the one way past its guard.
    perform set_config('imagefill.retention', 'on', true);
    delete from public.image_job_events e
     where e.id in (select x.id from public.image_job_events x
                     where x.created_at < now() - make_interval(days => p_event_days)
                       and x.stage <> 'review'
                     limit p_batch);
    get diagnostics v_events = row_count;
    perform set_config('imagefill.retention', 'off', true);
  end if;

  return jsonb_build_object('jobs_purged', v_jobs, 'events_purged', v_events);
end
$$;

-- One sweep. The advisory lock lets one worker sweep at a time; the others skip (they would
-- only wait on the same rows).
create or replace function imagefill.sweep_image_queue(
  p_done_days integer default 30,
  p_event_days integer default 90,
  p_batch integer default 5000
)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  if not pg_try_advisory_xact_lock(hashtext('imagefill.sweep_image_queue')) then
    return jsonb_build_object('skipped', true);
  end if;
  return jsonb_build_object(
           'skipped', false,
           'leases_failed', imagefill.fail_exhausted_leases(),
           -- defined in 53_job_product_integrity.sql (resolved when the sweep runs)
           'orphans_deleted', imagefill.delete_orphan_jobs(),
           'counters_folded', imagefill.compact_image_tally())
         || imagefill.purge_image_history(p_done_days, p_event_days, p_batch);
end
$$;

revoke all on function imagefill.purge_image_history(integer, integer, integer),
  imagefill.sweep_image_queue(integer, integer, integer) from public;
grant execute on function imagefill.purge_image_history(integer, integer, integer),
  imagefill.sweep_image_queue(integer, integer, integer) to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000150', 'imagefill_queue_maintenance', '8c9cd2686e4f4565a8e4d42e2cd660b148fa6a271e0cd8ede43907d6136a31a9')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
