-- Imagefill: many job completions in one round trip and one transaction.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- The worker records finished jobs like a group commit: while one call is on its way, the jobs
-- that finish meanwhile wait and go together in the next. Each item is exactly what
-- complete_image_job takes. The common case (the job is still ours, its decision unchanged, the
-- EAN the same, the outcome valid, no person's choice in the way, one item per product) is
-- written set-based: one UPDATE of the products, one INSERT of the events, one UPDATE of the jobs,
-- so the statement-level triggers run once per batch, not once per job. Every other item goes
-- through complete_image_job itself, one at a time, so each rule lives in one place. An item the
-- database refuses (lease lost IF001, invalid outcome IF002, rejected candidate IF003, a bad
-- value, a broken constraint) is answered with its error code and message; the others are still
-- recorded. Answers carry the item's position (`item`, from 1), so two items of one job never mix.
--
-- Locks: a batch holds its products' row locks until it commits. Waiting for one more while
-- holding others could close a cycle with the customer's own writes (an import updating two of
-- those products in another order), and Postgres would then abort one side, maybe the
-- customer's. So a batch of several products never waits for a product: the ones another
-- transaction holds are answered IF004 (nothing recorded) and the worker sends each of them
-- alone, and a call for a single product waits for it as complete_image_job does.
-- One item of the batch: complete_image_job's arguments, as text where the database checks them
-- (an invalid status or source is that item's error, not the whole call's).
do $$
begin
  if to_regtype('imagefill.job_completion') is null then
    create type imagefill.job_completion as (
      job_id uuid, image_status text, image_url text, image_source text, image_confidence numeric,
      candidates jsonb, events jsonb, result jsonb, payload jsonb);
  end if;
end
$$;

drop function if exists imagefill.complete_image_jobs(text, jsonb);
create or replace function imagefill.complete_image_jobs(p_worker text, p_items jsonb)
returns table (item integer, job_id uuid, outcome text, error_code text, error_message text)
language plpgsql
set search_path = ''
-- Its statements touch a handful of rows by key, whatever the parameters: plan them once, and
-- never as a scan of the whole catalogue (with stale statistics the generic plan of the product
-- update was a sequential scan and a hash join).
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_bitmapscan = off
as $$
#variable_conflict use_column
declare
  v_items imagefill.job_completion[] := array(
    select jsonb_populate_recordset(null::imagefill.job_completion, coalesce(p_items, '[]'::jsonb)));
  v_ids uuid[];
  v_products uuid[];
  v_locked uuid[];
  v_busy uuid[];
  v_fast uuid[];
  v_item record;
  v_job public.image_jobs;
begin
  if p_worker is null or p_worker = '' then
    raise exception 'p_worker is required' using errcode = '22023';
  end if;
  select array_agg(distinct x.job_id) into v_ids from unnest(v_items) x;
  if v_ids is null then
    return;
  end if;

  -- The locks complete_image_job takes, in the same order (the job, then its product), for the
  -- whole batch at once and in key order, so two workers' batches never deadlock.
  perform 1 from public.image_jobs j where j.id = any (v_ids) order by j.id for update;
  select array_agg(distinct j.product_id) into v_products
    from public.image_jobs j where j.id = any (v_ids);
  if coalesce(cardinality(v_products), 0) <= 1 then
    perform 1 from public.products p where p.id = any (v_products) for update;
  else
    -- Several products: take the free ones, never wait (see the header).
    with free as (
      select p.id as id from public.products p
       where p.id = any (v_products)
       order by p.id
       for update skip locked
    )
    select array_agg(f.id) into v_locked from free f;
    -- Busy: the product exists but another transaction holds it (a missing product is not busy:
    -- complete_image_job answers for it).
    select array_agg(j.id) into v_busy
      from public.image_jobs j
     where j.id = any (v_ids) and not (j.product_id = any (coalesce(v_locked, '{}')))
       and exists (select 1 from public.products p where p.id = j.product_id);
  end if;

  -- Items the set-based path may write (see above); ids seen twice in the batch never are.
  select array_agg(i.job_id) into v_fast
    from (select x.*, count(*) over (partition by x.job_id) as copies from unnest(v_items) x) i
    join public.image_jobs j on j.id = i.job_id
    join public.products p on p.id = j.product_id
   where i.copies = 1
     and not (i.job_id = any (coalesce(v_busy, '{}')))
     and j.status = 'running' and j.locked_by = p_worker
     and jsonb_typeof(coalesce(i.candidates, '[]')) = 'array'
     and jsonb_typeof(coalesce(i.events, '[]')) = 'array'
     and jsonb_typeof(coalesce(i.result, '{}')) = 'object'
     and (i.payload is null or j.payload = i.payload)
     and (i.image_status = 'needs_review'
          or (i.image_status = 'ok' and i.image_url is not null and i.image_confidence is not null
              and i.image_source is not null))
     and (i.image_source is null or i.image_source = any (enum_range(null::public.image_source)::text[]))
     and (i.image_confidence is null or i.image_confidence between 0 and 1)
     and not (j.kind = 'enrich' and j.payload ? 'gtin' and j.payload ->> 'gtin' is distinct from p.gtin)
     and not (j.kind = 'enrich' and p.image_status = 'ok'
              and (p.image_reviewed_by is not null or p.image_source = 'manual')
              and not coalesce((j.payload ->> 'force')::boolean, false))
     and not (j.kind = 'enrich' and i.image_url is not null and exists (
               select 1 from public.image_rejected_candidates r
                where r.product_id = j.product_id and r.url = i.image_url))
     and (select count(*) from public.image_jobs o
           where o.id = any (v_ids) and o.product_id = j.product_id) = 1;

  if v_fast is not null then
    perform imagefill.as_automation(true);
    with item as (
      select x.job_id, x.image_status::public.image_status as image_status, x.image_url,
             x.image_source::public.image_source as image_source, x.image_confidence,
             coalesce(x.candidates, '[]'::jsonb) as candidates, coalesce(x.events, '[]'::jsonb) as events,
             coalesce(x.result, '{}'::jsonb) as result, j.product_id
        from unnest(v_items) x
        join public.image_jobs j on j.id = x.job_id
       where x.job_id = any (v_fast)
    ),
    stored as (
      update public.products p
         set image_status = i.image_status,
             image_url = case when i.image_status = 'ok' then i.image_url else p.image_url end,
             image_source = case when i.image_status = 'ok' then i.image_source else p.image_source end,
             image_confidence = case when i.image_status = 'ok' then i.image_confidence else p.image_confidence end,
             image_updated_at = case when i.image_status = 'ok' then now() else p.image_updated_at end,
             image_candidate_urls = p.image_candidate_urls || coalesce(
               (select jsonb_agg(c || jsonb_build_object('job_id', i.job_id, 'at', now()))
                  from jsonb_array_elements(i.candidates) c), '[]'::jsonb)
        from item i
       where p.id = i.product_id
    ),
    logged as (
      insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
      select i.job_id, i.product_id, coalesce(e.value ->> 'stage', 'unknown'),
             coalesce(e.value ->> 'outcome', 'unknown'), coalesce(e.value -> 'detail', '{}'::jsonb)
        from item i
        cross join lateral jsonb_array_elements(i.events || jsonb_build_array(
          jsonb_build_object('stage', 'complete', 'outcome', i.image_status,
                             'detail', jsonb_strip_nulls(jsonb_build_object(
                               'url', i.image_url, 'source', i.image_source,
                               'confidence', i.image_confidence))))) with ordinality e
       order by i.job_id, e.ordinality
    )
    update public.image_jobs j
       set status = 'done', locked_by = null, locked_until = null, last_error = null,
           result = i.result || jsonb_build_object('outcome', i.image_status::text),
           finished_at = now(), updated_at = now()
      from item i
     where j.id = i.job_id;
    perform imagefill.as_automation(false);

    return query select i.ordinality::integer, i.job_id, i.image_status, null::text, null::text
      from unnest(v_items) with ordinality as i
     where i.job_id = any (v_fast);
  end if;

  return query select i.ordinality::integer, i.job_id, null::text, 'IF004'::text,
      format('job %s: o produto está travado por outra transação; este resultado vai sozinho', i.job_id)
    from unnest(v_items) with ordinality as i
   where i.job_id = any (v_busy);

  -- Everything else, one at a time, with complete_image_job's own rules and errors.
  for v_item in
    select x.* from unnest(v_items) with ordinality as x
     where x.job_id is null
        or not (x.job_id = any (coalesce(v_fast, '{}'::uuid[]) || coalesce(v_busy, '{}'::uuid[])))
  loop
    item := v_item.ordinality;
    job_id := v_item.job_id;
    begin
      v_job := imagefill.complete_image_job(
        v_item.job_id, p_worker, v_item.image_status::public.image_status, v_item.image_url,
        v_item.image_source::public.image_source, v_item.image_confidence,
        coalesce(v_item.candidates, '[]'::jsonb), coalesce(v_item.events, '[]'::jsonb),
        coalesce(v_item.result, '{}'::jsonb), v_item.payload);
      outcome := v_job.result ->> 'outcome';
      error_code := null;
      error_message := null;
    exception when sqlstate 'IF001' or sqlstate 'IF002' or sqlstate 'IF003' or data_exception
                   or integrity_constraint_violation then
      -- Only what is about this item; anything else (a deadlock, a lost connection) fails the
      -- whole call, and the worker retries it.
      outcome := null;
      error_code := sqlstate;
      error_message := sqlerrm;
    end;
    return next;
  end loop;
end
$$;

revoke all on function imagefill.complete_image_jobs(text, jsonb) from public;
grant execute on function imagefill.complete_image_jobs(text, jsonb) to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000155', 'imagefill_batched_completion', '633d6f513456b19853b8c21b53af51634ec76d32f6c69ca9819c2066e24834a0')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
