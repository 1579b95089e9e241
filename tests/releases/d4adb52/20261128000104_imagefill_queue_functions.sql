-- Imagefill: every state change of a job is one function here. The worker (service_role)
-- calls them by name and never writes job state with its own SQL.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Holding a lease means: the job is `running` and `locked_by` is the caller. A worker whose
-- lease expired may still finish if nobody has reclaimed the job yet (its completion takes the
-- row lock, and the claim skips locked rows); once another worker claimed it, it is refused.
-- Error codes: IF001 lease lost, IF002 invalid outcome, IF003 rejected candidate.

-- Product updates made by these functions must not look like a person asking for work:
-- the enqueue triggers skip changes made while this transaction-local flag is on.
create or replace function imagefill.as_automation(p_on boolean)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform set_config('imagefill.automation', case when p_on then 'on' else 'off' end, true);
end
$$;

-- plpgsql so that its statement is planned once per session (a SQL function called from another
-- function's statement is parsed and planned again at every call).
create or replace function imagefill.insert_job_events(p_job public.image_jobs, p_events jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  select p_job.id, p_job.product_id,
         coalesce(e ->> 'stage', 'unknown'), coalesce(e ->> 'outcome', 'unknown'),
         coalesce(e -> 'detail', '{}'::jsonb)
  from jsonb_array_elements(coalesce(p_events, '[]'::jsonb)) as e;
end
$$;

-- Loads a job the caller must hold, locked for the rest of the transaction.
create or replace function imagefill.held_job(p_job_id uuid, p_worker text)
returns public.image_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.image_jobs;
begin
  select * into v_job from public.image_jobs where id = p_job_id for update;
  if not found or v_job.status <> 'running' or v_job.locked_by is distinct from p_worker then
    raise exception 'lease lost: job % is no longer held by %', p_job_id, p_worker
      using errcode = 'IF001',
            detail = format('status=%s locked_by=%s', v_job.status, v_job.locked_by);
  end if;
  return v_job;
end
$$;

-- Jobs whose lease expired with no attempts left: a worker crashed on them every time.
create or replace function imagefill.fail_exhausted_leases()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_count integer;
begin
  perform imagefill.as_automation(true);
  with exhausted as (
    select id from public.image_jobs
    where status = 'running' and locked_until < now() and attempts >= max_attempts
    for update skip locked
  ),
  failed as (
    update public.image_jobs j
       set status = 'failed', locked_by = null, locked_until = null, finished_at = now(), updated_at = now(),
           last_error = case when j.kind = 'approve'
             then 'A imagem aprovada não foi gravada: o worker parou em todas as '
                  || j.attempts || ' tentativas (falta de memória ou queda?). Aprove de novo ou escolha outra imagem.'
             else 'O worker parou em todas as ' || j.attempts
                  || ' tentativas deste produto (falta de memória ou queda?); recoloque-o na fila para tentar de novo.'
           end
      from exhausted x where j.id = x.id
    returning j.*
  ),
  marked as (
    -- Every exhausted job leaves its product where a person sees it: an approval goes back to
    -- the review queue (with the reason in last_error), an enrichment shows `error`.
    update public.products p
       set image_status = (case when f.kind = 'approve' then 'needs_review' else 'error' end)::public.image_status
      from failed f
     where p.id = f.product_id and p.image_status in ('fetching', 'missing', 'needs_review', 'error')
  )
  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  select f.id, f.product_id, 'lease', 'failed', jsonb_build_object('attempts', f.attempts)
  from failed f;
  get diagnostics v_count = row_count;
  perform imagefill.as_automation(false);
  return v_count;
end
$$;

-- p_kinds: the job kinds this worker can run (NULL = all), so a worker without a browser never
-- takes a browser job. p_batch_id: only that backfill batch (NULL = any job), so
-- `imagefill backfill --limit N` processes exactly its N jobs.
drop function if exists imagefill.claim_image_jobs(text, integer, integer, public.image_job_kind[]);
create or replace function imagefill.claim_image_jobs(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer default 120,
  p_kinds public.image_job_kind[] default null,
  p_batch_id uuid default null
)
returns table (
  job_id uuid,
  product_id text,
  kind public.image_job_kind,
  attempts integer,
  max_attempts integer,
  batch_id uuid,
  payload jsonb,
  locked_until timestamptz,
  product_name text,
  product_brand text,
  product_ean text,
  product_gtin text,
  rejected_urls text[]
)
language plpgsql
set search_path = ''
-- The claim must read image_jobs_claim_idx in order and stop after p_limit rows. Right after a
-- bulk enqueue the statistics still say "few queued jobs" (autovacuum analyzes a minute later),
-- and the planner then prefers a bitmap scan that reads and sorts every queued job on each claim.
set enable_bitmapscan = off
as $$
#variable_conflict use_column
begin
  if p_worker is null or p_worker = '' then
    raise exception 'p_worker is required' using errcode = '22023';
  end if;
  if p_limit is null or p_limit < 1 then
    return;
  end if;
  -- Exhausted leases are failed by the worker's periodic sweep (sweep_image_queue), not here:
  -- that scan was a third of every claim's time, and a crash on the last attempt can wait a minute.
  perform imagefill.as_automation(true);
  return query
  with due as (
    -- Fresh work: queued jobs whose backoff has passed, oldest first. Matches the partial
    -- index image_jobs_claim_idx exactly, so this never scans the whole table.
    select j.id from public.image_jobs j
    where j.status = 'queued' and j.run_after <= now()
      and (p_kinds is null or j.kind = any (p_kinds))
      and (p_batch_id is null or j.batch_id = p_batch_id)
    order by j.run_after, j.created_at
    limit p_limit
    for update skip locked
  ),
  expired as (
    -- Crash recovery: running jobs whose worker stopped renewing the lease (image_jobs_lease_idx),
    -- with an attempt left; the sweep fails the others.
    select j.id from public.image_jobs j
    where j.status = 'running' and j.locked_until < now() and j.attempts < j.max_attempts
      and (p_kinds is null or j.kind = any (p_kinds))
      and (p_batch_id is null or j.batch_id = p_batch_id)
    order by j.locked_until
    limit p_limit
    for update skip locked
  ),
  picked as (
    select x.id from (select id from expired union all select id from due) x limit p_limit
  ),
  claimed as (
    update public.image_jobs j
       set status = 'running', attempts = j.attempts + 1, locked_by = p_worker,
           locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
      from picked where j.id = picked.id
    returning j.*
  ),
  fetching as (
    -- The catalogue shows that automatic work is under way.
    update public.products p set image_status = 'fetching'
      from claimed c
     where p.id = c.product_id and c.kind = 'enrich' and p.image_status <> 'fetching'
       and (p.image_status <> 'ok' or coalesce((c.payload ->> 'force')::boolean, false))
  )
  select c.id, c.product_id::text, c.kind, c.attempts, c.max_attempts, c.batch_id, c.payload, c.locked_until,
         p.name::text, p.brand::text, p.ean::text, p.gtin,
         coalesce((select array_agg(r.url order by r.url) from public.image_rejected_candidates r
                   where r.product_id = c.product_id), '{}')
    from claimed c
    join public.products p on p.id = c.product_id
   order by c.created_at;
  perform imagefill.as_automation(false);
end
$$;

-- One round trip renews every lease a worker holds; returns the jobs it still holds.
create or replace function imagefill.extend_image_job_leases(
  p_worker text,
  p_job_ids uuid[],
  p_lease_seconds integer default 120
)
returns setof uuid
language sql
set search_path = ''
as $$
  -- Never waits: a job row another transaction holds (most often this worker's own completion of
  -- it, itself waiting for a product a customer's transaction holds) is skipped, and reported as
  -- still held when its last committed state says so; the next round renews it. Waiting here
  -- would stop the renewal of every other job of the worker until that lock is gone.
  with free as (
    select j.id from public.image_jobs j
     where j.id = any (p_job_ids) and j.status = 'running' and j.locked_by = p_worker
     order by j.id
     for update skip locked
  ),
  renewed as (
    update public.image_jobs j
       set locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
      from free f
     where j.id = f.id and j.status = 'running' and j.locked_by = p_worker
    returning j.id
  )
  select r.id from renewed r
  union all
  select j.id from public.image_jobs j
   where j.id = any (p_job_ids) and j.status = 'running' and j.locked_by = p_worker
     and j.id not in (select f.id from free f);
$$;

-- A person decided again while this job ran: approve_product_image rewrote the job's payload, so
-- the result the worker brings belongs to the old decision. The job goes straight back to the
-- queue (the attempt does not count) and runs again with the newest decision; the product stays
-- `fetching`. The same job id is what the RPC returned to both calls. NULL: not superseded.
create or replace function imagefill.requeue_if_superseded(p_job public.image_jobs, p_ran_payload jsonb)
returns public.image_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.image_jobs;
begin
  if p_ran_payload is null or p_job.payload = p_ran_payload then
    return null;
  end if;
  update public.image_jobs
     set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
         locked_by = null, locked_until = null, updated_at = now(),
         result = jsonb_build_object('outcome', 'superseded')
   where id = p_job.id
  returning * into v_job;
  perform imagefill.insert_job_events(v_job, jsonb_build_array(jsonb_build_object(
    'stage', 'complete', 'outcome', 'superseded',
    'detail', jsonb_build_object('ran', p_ran_payload -> 'url', 'now', v_job.payload -> 'url'))));
  perform pg_notify('imagefill_jobs', 'superseded');
  return v_job;
end
$$;

-- p_payload: the payload the worker ran (as claimed). When it is no longer the job's payload, the
-- result is not stored and the job runs again (see requeue_if_superseded).
drop function if exists imagefill.complete_image_job(
  uuid, text, public.image_status, text, public.image_source, numeric, jsonb, jsonb, jsonb);
drop function if exists imagefill.fail_image_job(uuid, text, text, boolean, jsonb, integer);
create or replace function imagefill.complete_image_job(
  p_job_id uuid,
  p_worker text,
  p_image_status public.image_status,
  p_image_url text default null,
  p_image_source public.image_source default null,
  p_image_confidence numeric default null,
  p_candidates jsonb default '[]'::jsonb,
  p_events jsonb default '[]'::jsonb,
  p_result jsonb default '{}'::jsonb,
  p_payload jsonb default null
)
returns public.image_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.image_jobs;
  v_superseded public.image_jobs;
  v_product record;
  v_outcome text := p_image_status::text;
begin
  v_job := imagefill.held_job(p_job_id, p_worker);
  v_superseded := imagefill.requeue_if_superseded(v_job, p_payload);
  if v_superseded.id is not null then
    return v_superseded;
  end if;

  if p_image_status not in ('ok', 'needs_review') then
    raise exception 'a job ends in ok or needs_review, not %', p_image_status using errcode = 'IF002';
  end if;
  if p_image_status = 'ok' and (p_image_url is null or p_image_source is null or p_image_confidence is null) then
    raise exception 'an ok image needs url, source and confidence' using errcode = 'IF002';
  end if;

  select p.id as id, p.gtin, p.image_status, p.image_reviewed_by
    into v_product
    from public.products p where p.id = v_job.product_id
    for update;

  if v_job.kind = 'enrich' and p_image_url is not null and exists (
       select 1 from public.image_rejected_candidates r
        where r.product_id = v_job.product_id and r.url = p_image_url) then
    raise exception 'candidate % was rejected by a person for this product', p_image_url using errcode = 'IF003';
  end if;

  perform imagefill.as_automation(true);

  if v_job.kind = 'enrich' and v_job.payload ? 'gtin' and v_job.payload ->> 'gtin' is distinct from v_product.gtin then
    -- The EAN changed while we worked: this result belongs to the old code. Start over (the
    -- new job is queued below, once this one no longer holds the product's active slot).
    v_outcome := 'stale';
  elsif v_job.kind = 'enrich' and v_product.image_status = 'ok' and v_product.image_reviewed_by is not null
        and not coalesce((v_job.payload ->> 'force')::boolean, false) then
    -- A person approved an image while we worked: automation never overwrites that.
    v_outcome := 'kept_human_choice';
  else
    update public.products p
       set image_status = p_image_status,
           image_url = case when p_image_status = 'ok' then p_image_url else p.image_url end,
           image_source = case when p_image_status = 'ok' then p_image_source else p.image_source end,
           image_confidence = case when p_image_status = 'ok' then p_image_confidence else p.image_confidence end,
           image_updated_at = case when p_image_status = 'ok' then now() else p.image_updated_at end,
           image_candidate_urls = p.image_candidate_urls || coalesce(
             (select jsonb_agg(c || jsonb_build_object('job_id', v_job.id, 'at', now()))
                from jsonb_array_elements(coalesce(p_candidates, '[]'::jsonb)) c), '[]'::jsonb)
     where p.id = v_job.product_id;
  end if;

  perform imagefill.insert_job_events(v_job, coalesce(p_events, '[]'::jsonb) || jsonb_build_array(
    jsonb_build_object('stage', 'complete', 'outcome', v_outcome,
                       'detail', jsonb_strip_nulls(jsonb_build_object(
                          'url', p_image_url, 'source', p_image_source, 'confidence', p_image_confidence)))));

  update public.image_jobs
     set status = 'done', locked_by = null, locked_until = null, last_error = null,
         result = coalesce(p_result, '{}'::jsonb) || jsonb_build_object('outcome', v_outcome),
         finished_at = now(), updated_at = now()
   where id = v_job.id
  returning * into v_job;

  if v_outcome = 'stale' and v_product.gtin is not null then
    insert into public.image_jobs (product_id, kind, payload, batch_id)
    values (v_job.product_id, 'enrich', jsonb_build_object('gtin', v_product.gtin), v_job.batch_id)
    on conflict (product_id, kind) where status in ('queued', 'running') do nothing;
  end if;

  perform imagefill.as_automation(false);
  return v_job;
end
$$;

-- Retry with exponential backoff (base * 2^(attempt-1), at most one hour, +/-20 % jitter so a
-- burst of failures does not come back as a burst) until max_attempts; then `failed` and the
-- product `error`. p_retryable = false fails at once (a permanent error such as a bad image).
create or replace function imagefill.fail_image_job(
  p_job_id uuid,
  p_worker text,
  p_error text,
  p_retryable boolean default true,
  p_events jsonb default '[]'::jsonb,
  p_backoff_base_seconds integer default 30,
  p_payload jsonb default null
)
returns public.image_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.image_jobs;
  v_superseded public.image_jobs;
  v_error text := left(coalesce(nullif(btrim(p_error), ''), 'erro desconhecido'), 1900);
  v_retry boolean;
  v_delay double precision;
begin
  v_job := imagefill.held_job(p_job_id, p_worker);
  -- A failure of an outdated decision says nothing about the newest one: run that instead.
  v_superseded := imagefill.requeue_if_superseded(v_job, p_payload);
  if v_superseded.id is not null then
    return v_superseded;
  end if;
  v_retry := coalesce(p_retryable, true) and v_job.attempts < v_job.max_attempts;
  if coalesce(p_retryable, true) and not v_retry then
    -- The text a person reads last must not promise a retry that will not come.
    v_error := v_error || format(' (sem novas tentativas: %s de %s usadas)', v_job.attempts, v_job.max_attempts);
  end if;
  v_delay := least(greatest(p_backoff_base_seconds, 0) * power(2, greatest(v_job.attempts - 1, 0)), 3600)
             * (0.8 + random() * 0.4);

  perform imagefill.as_automation(true);
  update public.image_jobs
     set status = case when v_retry then 'queued' else 'failed' end::public.image_job_status,
         run_after = case when v_retry then now() + make_interval(secs => v_delay) else run_after end,
         finished_at = case when v_retry then null else now() end,
         locked_by = null, locked_until = null, last_error = v_error, result = null, updated_at = now()
   where id = v_job.id
  returning * into v_job;

  -- A failed approval goes back to the reviewer; a failed enrichment waits (missing) or is an error.
  update public.products p
     set image_status = (case
           when v_job.kind = 'approve' then case when v_retry then p.image_status::text else 'needs_review' end
           when v_retry then 'missing'
           else 'error' end)::public.image_status
   where p.id = v_job.product_id and p.image_status in ('fetching', 'missing', 'needs_review', 'error');

  perform imagefill.insert_job_events(v_job, coalesce(p_events, '[]'::jsonb) || jsonb_build_array(
    jsonb_build_object('stage', 'fail', 'outcome', case when v_retry then 'retry' else 'failed' end,
                       'detail', jsonb_build_object('error', v_error, 'attempts', v_job.attempts,
                                                    'run_after', v_job.run_after))));
  perform imagefill.as_automation(false);
  return v_job;
end
$$;

-- Hands a job back untouched (graceful shutdown): the attempt does not count, and the other
-- workers are woken to pick it up now.
create or replace function imagefill.release_image_job(
  p_job_id uuid,
  p_worker text,
  p_reason text default 'worker shutting down'
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
     set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
         locked_by = null, locked_until = null, updated_at = now()
   where id = v_job.id
  returning * into v_job;
  update public.products p set image_status = 'missing'
   where p.id = v_job.product_id and p.image_status = 'fetching' and v_job.kind = 'enrich';
  perform imagefill.insert_job_events(v_job, jsonb_build_array(
    jsonb_build_object('stage', 'release', 'outcome', 'requeued', 'detail', jsonb_build_object('reason', p_reason))));
  perform pg_notify('imagefill_jobs', 'released');
  perform imagefill.as_automation(false);
  return v_job;
end
$$;

-- Progress notes while a job runs (each stage's verdict), outside the final transaction.
create or replace function imagefill.record_image_job_event(
  p_job_id uuid,
  p_stage text,
  p_outcome text,
  p_detail jsonb default '{}'::jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  select j.id, j.product_id, p_stage, p_outcome, coalesce(p_detail, '{}'::jsonb)
    from public.image_jobs j where j.id = p_job_id;
$$;

revoke all on all functions in schema imagefill from public;
grant execute on function
  imagefill.claim_image_jobs(text, integer, integer, public.image_job_kind[], uuid),
  imagefill.extend_image_job_leases(text, uuid[], integer),
  imagefill.complete_image_job(uuid, text, public.image_status, text, public.image_source, numeric, jsonb, jsonb, jsonb, jsonb),
  imagefill.fail_image_job(uuid, text, text, boolean, jsonb, integer, jsonb),
  imagefill.requeue_if_superseded(public.image_jobs, jsonb),
  imagefill.release_image_job(uuid, text, text),
  imagefill.record_image_job_event(uuid, text, text, jsonb),
  imagefill.fail_exhausted_leases(),
  imagefill.as_automation(boolean),
  imagefill.held_job(uuid, text),
  imagefill.insert_job_events(public.image_jobs, jsonb)
to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000104', 'imagefill_queue_functions')
on conflict (version) do update set applied_at = now();
