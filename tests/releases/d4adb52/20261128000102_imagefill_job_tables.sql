-- Imagefill: the job queue, its audit log and the remembered rejections.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

create table if not exists public.image_jobs (
  id uuid primary key default gen_random_uuid(),
  -- Belongs to a product of public.products: enforced by the statement-level triggers of
  -- 53_job_product_integrity.sql (a foreign key cost a query and a row lock per job).
  product_id uuid not null,
  kind public.image_job_kind not null default 'enrich',
  status public.image_job_status not null default 'queued',
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null default 5 check (max_attempts between 1 and 100),
  last_error text,
  run_after timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  batch_id uuid,
  payload jsonb not null default '{}'::jsonb,
  result jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint image_jobs_running_has_lease check (status <> 'running' or (locked_by is not null and locked_until is not null))
);

-- Every job row is updated 3+ times in its life, and none of those updates can be HOT: each
-- changes `status`, which the partial indexes below use in their predicates (bench/RESULTS.md
-- measures 0 HOT updates). Free space left for HOT (fillfactor < 100) would only be wasted; what
-- keeps the table small is autovacuum visiting it long before the default 20 % of dead rows.
alter table public.image_jobs reset (fillfactor);
alter table public.image_jobs set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 100,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 1
);

-- At most one active job per product and kind: enqueueing is idempotent (ON CONFLICT DO NOTHING).
create unique index if not exists image_jobs_one_active_per_product
  on public.image_jobs (product_id, kind) where status in ('queued', 'running');
-- The claim's WHERE and ORDER BY, exactly: due queued jobs, oldest first.
create index if not exists image_jobs_claim_idx
  on public.image_jobs (run_after, created_at) where status = 'queued';
-- Crash recovery: running jobs whose lease has expired.
create index if not exists image_jobs_lease_idx
  on public.image_jobs (locked_until) where status = 'running';
create index if not exists image_jobs_product_idx on public.image_jobs (product_id);
create index if not exists image_jobs_batch_idx on public.image_jobs (batch_id) where batch_id is not null;

-- Append-only trail of every decision: which stage said what about which product.
-- No foreign keys on purpose: the trail outlives deleted jobs and products.
create table if not exists public.image_job_events (
  id bigint generated always as identity primary key,
  job_id uuid,
  product_id uuid,
  stage text not null,
  outcome text not null,
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index if not exists image_job_events_job_idx on public.image_job_events (job_id);
create index if not exists image_job_events_product_idx on public.image_job_events (product_id, created_at);

create or replace function imagefill.forbid_event_changes()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The retention policy (imagefill.purge_image_history) is the one exception: it deletes old
  -- automatic events, never a person's decisions, with this transaction-local flag on.
  if tg_op = 'DELETE' and coalesce(current_setting('imagefill.retention', true), '') = 'on' then
    return old;
  end if;
  raise exception 'image_job_events é somente de inclusão: eventos não podem ser alterados nem apagados'
    using errcode = 'IF010';
end
$$;
create or replace trigger image_job_events_append_only
  before update or delete on public.image_job_events
  for each row execute function imagefill.forbid_event_changes();

-- Candidates a person rejected: never proposed for that product again.
create table if not exists public.image_rejected_candidates (
  -- A person's rejection is rare: a plain foreign key costs nothing that matters here.
  product_id uuid not null references public.products (id) on delete cascade,
  url text not null,
  reason text,
  rejected_by uuid,
  rejected_at timestamptz not null default now(),
  primary key (product_id, url)
);

-- RLS: operators read through the API; every write goes through the functions.
alter table public.image_jobs enable row level security;
alter table public.image_job_events enable row level security;
alter table public.image_rejected_candidates enable row level security;

-- New public tables are no longer granted to the API roles automatically (Supabase, 2026-10-30).
revoke all on public.image_jobs, public.image_job_events, public.image_rejected_candidates from anon, authenticated;
-- Operators (RLS: is_image_operator()) read what the panel shows; never which worker host and
-- process holds a job (locked_by) or its lease.
grant select (id, product_id, kind, status, attempts, max_attempts, last_error, run_after, batch_id, payload,
              result, created_at, updated_at, finished_at)
  on public.image_jobs to authenticated;
grant select on public.image_job_events, public.image_rejected_candidates to authenticated;
grant select, insert, update, delete on public.image_jobs, public.image_rejected_candidates to service_role;
grant select, insert on public.image_job_events to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000102', 'imagefill_job_tables')
on conflict (version) do update set applied_at = now();
