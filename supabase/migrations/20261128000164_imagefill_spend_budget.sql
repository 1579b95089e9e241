-- Imagefill: spending caps for every paid call together (OpenAI and the image search), enforced
-- here so that any number of worker replicas stay within them. A worker reserves the call's
-- estimated cost before it makes the call, settles with the real usage after it, releases the
-- reservation when the call failed; a crashed worker's reservations expire. The caps themselves
-- are the worker's settings (BUDGET_MONTHLY_USD, BUDGET_DAILY_USD, BUDGET_MONTHLY_REQUESTS),
-- passed with every reservation. Windows are calendar months and days in UTC.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Private schema: only the worker (service_role) reads and writes these, through the functions
-- below; the caller passes US$ amounts it computed from OPENAI_PRICES and the search's price.

-- What was spent per window and provider: a reservation reads a handful of rows, never the
-- usage history.
create table if not exists imagefill.spend_totals (
  period text not null check (period in ('month', 'day')),
  starts_on date not null,
  provider text not null,
  spent_usd numeric not null default 0,
  requests bigint not null default 0,
  primary key (period, starts_on, provider)
);

-- Calls in flight: their estimated cost counts against the caps until they settle or expire.
create table if not exists imagefill.spend_reservations (
  id bigint generated always as identity primary key,
  job_id uuid,
  provider text not null,
  purpose text not null,
  estimate_usd numeric not null check (estimate_usd >= 0),
  requests integer not null default 1 check (requests >= 0),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);

revoke all on imagefill.spend_totals, imagefill.spend_reservations from public;
grant select on imagefill.spend_totals, imagefill.spend_reservations to service_role;

-- The current windows and when each one resets.
create or replace function imagefill.spend_windows()
returns table (month_start date, month_resets_at timestamptz, day_start date, day_resets_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select m, (m + interval '1 month')::timestamp at time zone 'UTC',
         d, (d + 1)::timestamp at time zone 'UTC'
    from (select date_trunc('month', now() at time zone 'UTC')::date as m,
                 (now() at time zone 'UTC')::date as d) w;
$$;

-- Reserves `p_estimate_usd` (and `p_requests` of the provider's monthly quota) when every cap
-- still has room for it, or answers which cap refused (`month`, `day`, `quota`) and when it
-- resets. NULL caps do not limit.
create or replace function imagefill.reserve_spend(
  p_job_id uuid,
  p_provider text,
  p_purpose text,
  p_estimate_usd numeric,
  p_requests integer,
  p_monthly_usd numeric,
  p_daily_usd numeric,
  p_monthly_requests bigint,
  p_hold_seconds integer
)
returns table (reservation_id bigint, refused text, resets_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  w record;
  v_estimate numeric := greatest(coalesce(p_estimate_usd, 0), 0);
  v_requests integer := greatest(coalesce(p_requests, 1), 0);
  v_month numeric;
  v_day numeric;
  v_provider_requests bigint;
  v_id bigint;
begin
  -- One check-and-insert at a time across every replica (and against settle_spend): without it
  -- two workers could both see the same last dollar free. Transaction-scoped, held microseconds.
  perform pg_advisory_xact_lock(hashtextextended('imagefill.spend', 0));
  -- A crashed worker never settles nor releases: its reservations stop counting here.
  delete from imagefill.spend_reservations r where r.expires_at <= now();
  select * into w from imagefill.spend_windows();

  -- Spent in the window plus everything in flight (reservations count against both windows).
  select coalesce((select sum(t.spent_usd) from imagefill.spend_totals t
                    where t.period = 'month' and t.starts_on = w.month_start), 0) + x.usd,
         coalesce((select sum(t.spent_usd) from imagefill.spend_totals t
                    where t.period = 'day' and t.starts_on = w.day_start), 0) + x.usd,
         coalesce((select t.requests from imagefill.spend_totals t
                    where t.period = 'month' and t.starts_on = w.month_start and t.provider = p_provider), 0)
           + x.provider_requests
    into v_month, v_day, v_provider_requests
    from (select coalesce(sum(r.estimate_usd), 0) as usd,
                 coalesce(sum(r.requests) filter (where r.provider = p_provider), 0) as provider_requests
            from imagefill.spend_reservations r) x;

  if p_monthly_usd is not null and p_monthly_usd - v_month < v_estimate then
    return query select null::bigint, 'month'::text, w.month_resets_at;
    return;
  end if;
  if p_daily_usd is not null and p_daily_usd - v_day < v_estimate then
    return query select null::bigint, 'day'::text, w.day_resets_at;
    return;
  end if;
  if p_monthly_requests is not null and v_provider_requests + v_requests > p_monthly_requests then
    return query select null::bigint, 'quota'::text, w.month_resets_at;
    return;
  end if;

  insert into imagefill.spend_reservations (job_id, provider, purpose, estimate_usd, requests, expires_at)
  values (p_job_id, p_provider, p_purpose, v_estimate, v_requests,
          now() + make_interval(secs => greatest(coalesce(p_hold_seconds, 120), 1)))
  returning id into v_id;
  return query select v_id, null::text, null::timestamptz;
end
$$;

-- The call is over: its reservation (if any; NULL when no cap applied) gives way to what it
-- really cost, added to this month's and today's totals, and each usage line is recorded on the
-- job (`p_usages`: [{model, purpose, input_tokens, output_tokens, requests}]). A reservation
-- that already expired (a very slow call) is simply gone: the real cost is still counted.
create or replace function imagefill.settle_spend(
  p_reservation_id bigint,
  p_job_id uuid,
  p_provider text,
  p_usd numeric,
  p_usages jsonb
)
returns void
language plpgsql
set search_path = ''
as $$
declare
  w record;
  v_requests bigint;
begin
  perform pg_advisory_xact_lock(hashtextextended('imagefill.spend', 0));
  delete from imagefill.spend_reservations r where r.id = p_reservation_id;
  select * into w from imagefill.spend_windows();
  select coalesce(sum(greatest(coalesce((u ->> 'requests')::integer, 1), 0)), 0) into v_requests
    from jsonb_array_elements(coalesce(p_usages, '[]'::jsonb)) u;
  if v_requests > 0 or coalesce(p_usd, 0) > 0 then
    insert into imagefill.spend_totals as t (period, starts_on, provider, spent_usd, requests)
    values ('month', w.month_start, p_provider, greatest(coalesce(p_usd, 0), 0), v_requests),
           ('day', w.day_start, p_provider, greatest(coalesce(p_usd, 0), 0), v_requests)
    on conflict (period, starts_on, provider)
    do update set spent_usd = t.spent_usd + excluded.spent_usd, requests = t.requests + excluded.requests;
  end if;
  perform imagefill.record_usage(p_job_id, u ->> 'model', u ->> 'purpose',
                                 coalesce((u ->> 'input_tokens')::integer, 0),
                                 coalesce((u ->> 'output_tokens')::integer, 0),
                                 coalesce((u ->> 'requests')::integer, 1))
    from jsonb_array_elements(coalesce(p_usages, '[]'::jsonb)) u;
end
$$;

-- The call was not made or not billed (refused, failed): its reservation frees its room.
create or replace function imagefill.release_spend(p_reservation_id bigint)
returns void
language sql
set search_path = ''
as $$
  delete from imagefill.spend_reservations r where r.id = p_reservation_id;
$$;

-- What `imagefill status` shows: this month's and today's spend per provider, what is in
-- flight, and when each window resets.
create or replace function imagefill.spend_summary()
returns table (
  provider text,
  month_usd numeric,
  month_requests bigint,
  day_usd numeric,
  reserved_usd numeric,
  month_resets_at timestamptz,
  day_resets_at timestamptz
)
language sql
stable
set search_path = ''
as $$
  with w as (select * from imagefill.spend_windows()),
  providers as (
    select t.provider from imagefill.spend_totals t, w
     where t.period = 'month' and t.starts_on = w.month_start
    union
    select r.provider from imagefill.spend_reservations r where r.expires_at > now()
  )
  select p.provider,
         coalesce((select t.spent_usd from imagefill.spend_totals t
                    where t.period = 'month' and t.starts_on = w.month_start and t.provider = p.provider), 0),
         coalesce((select t.requests from imagefill.spend_totals t
                    where t.period = 'month' and t.starts_on = w.month_start and t.provider = p.provider), 0),
         coalesce((select t.spent_usd from imagefill.spend_totals t
                    where t.period = 'day' and t.starts_on = w.day_start and t.provider = p.provider), 0),
         coalesce((select sum(r.estimate_usd) from imagefill.spend_reservations r
                    where r.provider = p.provider and r.expires_at > now()), 0),
         w.month_resets_at, w.day_resets_at
    from providers p, w
   order by p.provider;
$$;

-- A paid stage met a cap: the job waits, untouched, until the window resets. The attempt does
-- not count, nothing is marked failed, and the product keeps its place (the claim takes jobs by
-- run_after, then created_at: every deferred job wakes at the same reset, oldest first).
create or replace function imagefill.defer_image_job(
  p_job_id uuid,
  p_worker text,
  p_until timestamptz,
  p_reason text,
  p_events jsonb default '[]'::jsonb
)
returns public.image_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.image_jobs;
begin
  v_job := imagefill.held_job(p_job_id, p_worker);
  perform imagefill.as_automation(true);
  update public.image_jobs
     set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = greatest(p_until, now()),
         locked_by = null, locked_until = null, last_error = left(p_reason, 1900), updated_at = now()
   where id = v_job.id
  returning * into v_job;
  update public.products p set image_status = 'missing'
   where p.id = v_job.product_id and p.image_status = 'fetching' and v_job.kind = 'enrich';
  perform imagefill.insert_job_events(v_job, coalesce(p_events, '[]'::jsonb) || jsonb_build_array(
    jsonb_build_object('stage', 'budget', 'outcome', 'deferred',
                       'detail', jsonb_build_object('reason', p_reason, 'run_after', v_job.run_after))));
  perform imagefill.as_automation(false);
  return v_job;
end
$$;

-- A cap was raised (or a quota): the jobs deferred by a cap run again now, in their order, when
-- every cap the caller passes has room again. Called by a worker at start-up, after it read its
-- settings; with the caps still full it changes nothing (no job churns through Stage 1 again).
create or replace function imagefill.resume_deferred_jobs(
  p_monthly_usd numeric,
  p_daily_usd numeric,
  p_monthly_requests jsonb default '{}'::jsonb
)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  w record;
  v_full boolean;
  v_resumed integer;
begin
  select * into w from imagefill.spend_windows();
  select (p_monthly_usd is not null
            and coalesce(sum(t.spent_usd) filter (where t.period = 'month' and t.starts_on = w.month_start), 0)
                >= p_monthly_usd)
      or (p_daily_usd is not null
            and coalesce(sum(t.spent_usd) filter (where t.period = 'day' and t.starts_on = w.day_start), 0)
                >= p_daily_usd)
      or exists (select 1 from jsonb_each_text(coalesce(p_monthly_requests, '{}'::jsonb)) q
                  where coalesce((select x.requests from imagefill.spend_totals x
                                   where x.period = 'month' and x.starts_on = w.month_start
                                     and x.provider = q.key), 0) >= q.value::bigint)
    into v_full
    from imagefill.spend_totals t;
  if v_full then
    return 0;
  end if;
  perform imagefill.as_automation(true);
  -- Deferred jobs wait in the claim index (queued, run_after in the future) with the deferral's
  -- own event; a job backing off after a failure has no such event and keeps its backoff. Each
  -- goes back to its place in the queue (the claim takes the oldest run_after first).
  update public.image_jobs j
     set run_after = least(j.created_at, now()), updated_at = now()
   where j.status = 'queued' and j.run_after > now()
     and exists (select 1 from public.image_job_events e
                  where e.job_id = j.id and e.stage = 'budget' and e.outcome = 'deferred'
                    and (e.detail ->> 'run_after')::timestamptz = j.run_after);
  get diagnostics v_resumed = row_count;
  perform imagefill.as_automation(false);
  if v_resumed > 0 then
    perform pg_notify('imagefill_jobs', 'resumed');
  end if;
  return v_resumed;
end
$$;

revoke all on function
  imagefill.resume_deferred_jobs(numeric, numeric, jsonb),
  imagefill.spend_windows(),
  imagefill.reserve_spend(uuid, text, text, numeric, integer, numeric, numeric, bigint, integer),
  imagefill.settle_spend(bigint, uuid, text, numeric, jsonb),
  imagefill.release_spend(bigint),
  imagefill.spend_summary(),
  imagefill.defer_image_job(uuid, text, timestamptz, text, jsonb)
from public;
grant execute on function
  imagefill.resume_deferred_jobs(numeric, numeric, jsonb),
  imagefill.spend_windows(),
  imagefill.reserve_spend(uuid, text, text, numeric, integer, numeric, numeric, bigint, integer),
  imagefill.settle_spend(bigint, uuid, text, numeric, jsonb),
  imagefill.release_spend(bigint),
  imagefill.spend_summary(),
  imagefill.defer_image_job(uuid, text, timestamptz, text, jsonb)
to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000164', 'imagefill_spend_budget', '6cdd9e8a80ee687d05dc6063b1b7d239175dc3dd4146f924ea7decbd61a0ec2a')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
