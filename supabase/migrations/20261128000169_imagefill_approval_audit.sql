-- Imagefill: audit of automatic approvals. Operators check a sample of what the judge approved,
-- undo a wrong one, and the audits give the judge's measured precision on this catalogue.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- An automatic approval is an `enrich` job that stored a picture (result outcome `ok`); a
-- person's approval is an `approve` job and is never listed here. Each one is a row of
-- public.image_auto_approvals, written by a trigger on the job's completion (both the one-job and
-- the batched completion end with that update), so the worker's code is untouched.
-- Error codes: IF020 the product's picture was approved by a person, IF021 confirm after undo.

create table if not exists public.image_auto_approvals (
  id bigint generated always as identity primary key,
  -- A product deleted takes its audit trail with it (image_job_events keeps the decisions).
  product_id uuid not null references public.products (id) on delete cascade,
  job_id uuid,
  url text not null,            -- the stored picture (main.jpg) as the catalogue saw it
  original_url text,            -- the candidate the judge approved: what an undo rejects
  source public.image_source not null,
  site text,                    -- the page's host for a search/browser picture
  confidence numeric(4, 3) not null,
  reason text,
  approved_at timestamptz not null,
  -- Stratum and week of the sample: ISO weeks (Monday) in UTC; bands of 0.05 from 0.80 up,
  -- the last one 0.95-1.00 (a confidence of exactly 1 belongs to it).
  week date generated always as ((date_trunc('week', approved_at at time zone 'UTC'))::date) stored,
  band numeric(3, 2) generated always as (least(floor(confidence * 20) / 20, 0.95)) stored,
  -- Uniform in [0, 1) and fixed per approval (a hash of its job): the sample's random order.
  sample_key double precision not null,
  verdict text check (verdict in ('confirmed', 'wrong')),
  audited_by uuid,
  audited_at timestamptz
);
-- The `all` list: newest first, keyset on (approved_at, id).
create index if not exists image_auto_approvals_recent_idx on public.image_auto_approvals (approved_at desc, id desc);
-- The product's approvals (the foreign key's cascade, and "is this the current picture?").
create index if not exists image_auto_approvals_product_idx on public.image_auto_approvals (product_id, approved_at);
-- The sample's cut per week and stratum: the quota-th smallest key.
create index if not exists image_auto_approvals_sample_idx
  on public.image_auto_approvals (week, source, band, sample_key, id);
-- The sample still to audit: the same order, only rows without a verdict.
create index if not exists image_auto_approvals_pending_idx
  on public.image_auto_approvals (week, source, band, sample_key, id) where verdict is null;
-- The precision figures read only the audited rows.
create index if not exists image_auto_approvals_audited_idx
  on public.image_auto_approvals (source, band) include (confidence, verdict) where verdict is not null;

-- Approvals per week and stratum, as signed deltas (one row per approval, -n per delete) that
-- are folded into one row per stratum now and then (below), so a page never counts a week's
-- approvals and a completion never waits for a shared counter row. Kept out of the panel
-- counters (imagefill.image_tally): every other panel call reads all of those.
create table if not exists imagefill.audit_week_counts (
  week date not null,
  source public.image_source not null,
  band numeric(3, 2) not null,
  n bigint not null
);
create index if not exists audit_week_counts_week_idx on imagefill.audit_week_counts (week);
revoke all on imagefill.audit_week_counts from public, anon, authenticated;

-- Folds one week's deltas into a row per stratum. Never waits: rows another transaction holds
-- (its own fold) are left for the next one.
create or replace function imagefill.fold_audit_week_counts(p_week date)
returns void
language sql
set search_path = ''
as $$
  with mine as (
    select c.ctid from imagefill.audit_week_counts c where c.week = p_week for update skip locked
  ),
  gone as (
    delete from imagefill.audit_week_counts c using mine m where c.ctid = m.ctid
    returning c.source, c.band, c.n
  )
  insert into imagefill.audit_week_counts (week, source, band, n)
  select p_week, g.source, g.band, sum(g.n) from gone g group by g.source, g.band having sum(g.n) <> 0;
$$;

-- The sample's settings: one row, changed with plain SQL (see the README), read at every call,
-- so a change applies to the next page without a restart. Nothing is stored per approval: the
-- sample follows from these numbers, the weekly counts and each approval's fixed key.
create table if not exists imagefill.audit_settings (
  id boolean primary key default true check (id),
  sample_rate numeric not null default 0.05 check (sample_rate > 0 and sample_rate <= 1),
  weekly_minimum integer not null default 20 check (weekly_minimum >= 0),
  target_precision numeric not null default 0.99 check (target_precision > 0 and target_precision < 1)
);
insert into imagefill.audit_settings default values on conflict (id) do nothing;

alter table public.image_auto_approvals enable row level security;
revoke all on public.image_auto_approvals from anon, authenticated;
grant select on public.image_auto_approvals to authenticated, service_role;
drop policy if exists "Operators read automatic approvals" on public.image_auto_approvals;
create policy "Operators read automatic approvals" on public.image_auto_approvals
  for select to authenticated using ((select public.is_image_operator()));
revoke all on imagefill.audit_settings from public, anon, authenticated;
grant select on imagefill.audit_settings to service_role;

create or replace function imagefill.audit_sample_key(p_text text)
returns double precision
language sql
immutable
set search_path = ''
as $$
  select (('x' || substr(md5(p_text), 1, 8))::bit(32)::bigint)::double precision / 4294967296
$$;

create or replace function imagefill.record_auto_approval()
returns trigger
language plpgsql
security definer  -- the worker (service_role) does not write the audit table itself
set search_path = ''
as $$
declare
  v_week date;
  v_source public.image_source;
  v_band numeric;
begin
  insert into public.image_auto_approvals
    (product_id, job_id, url, original_url, source, site, confidence, reason, approved_at, sample_key)
  select p.id, new.id, p.image_url, new.result ->> 'original_url', p.image_source,
         case when p.image_source <> 'openfoodfacts' then
           coalesce(new.result ->> 'page_host', substring(new.result ->> 'original_url' from '^[a-zA-Z]+://([^/:?#]+)'))
         end,
         p.image_confidence, c.reason, p.image_updated_at, imagefill.audit_sample_key(new.id::text)
    from public.products p
    left join lateral (
      -- The judge's words about the picture it approved, from this job's candidates.
      select e ->> 'reason' as reason
        from jsonb_array_elements(p.image_candidate_urls) e
       where e ->> 'url' = new.result ->> 'original_url'
       order by (e ->> 'job_id' = new.id::text) desc nulls last
       limit 1
    ) c on true
   where p.id = new.product_id and p.image_status = 'ok' and p.image_source <> 'manual'
  returning week, source, band into v_week, v_source, v_band;
  if v_week is null then
    return null;
  end if;
  insert into imagefill.audit_week_counts (week, source, band, n) values (v_week, v_source, v_band, 1);
  -- One approval in 50 folds its week: a week holds a row per stratum plus ~50 deltas.
  if random() < 0.02 then
    perform imagefill.fold_audit_week_counts(v_week);
  end if;
  return null;
end
$$;

create or replace function imagefill.untally_auto_approvals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into imagefill.audit_week_counts (week, source, band, n)
  select o.week, o.source, o.band, -count(*) from old_rows o group by 1, 2, 3;
  return null;
end
$$;

-- TRUNCATE (a test or a bench starting over) has no transition table: the weekly counts start again.
create or replace function imagefill.untally_truncated_approvals()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  truncate imagefill.audit_week_counts;
  return null;
end
$$;

-- Row level with a WHEN: the condition is checked without calling anything, so claims, lease
-- renewals and failures cost nothing here.
create or replace trigger image_jobs_record_auto_approval
  after update on public.image_jobs
  for each row
  when (new.status = 'done' and old.status is distinct from 'done' and new.kind = 'enrich'
        and new.result ->> 'outcome' = 'ok')
  execute function imagefill.record_auto_approval();
create or replace trigger image_auto_approvals_untally
  after delete on public.image_auto_approvals
  referencing old table as old_rows for each statement execute function imagefill.untally_auto_approvals();
create or replace trigger image_auto_approvals_untally_truncate
  after truncate on public.image_auto_approvals
  for each statement execute function imagefill.untally_truncated_approvals();

-- First install: the pictures the judge already approved (no person reviewed them) join the
-- audit from the job that stored them.
do $$
begin
  if not exists (select 1 from public.image_auto_approvals) then
    with added as (
      insert into public.image_auto_approvals
        (product_id, job_id, url, original_url, source, site, confidence, reason, approved_at, sample_key)
      select p.id, j.id, p.image_url, j.result ->> 'original_url', p.image_source,
             case when p.image_source <> 'openfoodfacts' then j.result ->> 'page_host' end,
             p.image_confidence, null, p.image_updated_at,
             imagefill.audit_sample_key(coalesce(j.id::text, p.id::text))
        from public.products p
        left join lateral (
          select x.id, x.result from public.image_jobs x
           where x.product_id = p.id and x.kind = 'enrich' and x.status = 'done'
             and x.result ->> 'outcome' = 'ok'
           order by x.finished_at desc nulls last limit 1
        ) j on true
       where p.image_status = 'ok' and p.image_source in ('openfoodfacts', 'search_api', 'browser')
         and p.image_reviewed_by is null and p.image_confidence is not null and p.image_updated_at is not null
      returning week, source, band
    )
    insert into imagefill.audit_week_counts (week, source, band, n)
    select a.week, a.source, a.band, count(*) from added a group by 1, 2, 3;
  end if;
  -- Re-running the migrations folds every week's deltas (the trigger folds now and then).
  perform imagefill.fold_audit_week_counts(w.week)
     from (select distinct c.week from imagefill.audit_week_counts c) w;
end
$$;

-- The sample of one week: per stratum (source, band) with n approvals in a week of N,
--   quota = least(n, greatest(ceil(rate * n), ceil(weekly_minimum * n / N)))
-- (proportional allocation; the ceilings give every stratum at least one and the week at least
-- weekly_minimum), and the sample is the quota approvals with the smallest keys. Returned as the
-- cut: an approval is in the sample when (sample_key, id) <= (cut_key, cut_id).
create or replace function imagefill.audit_sample_cuts(p_week date)
returns table (source public.image_source, band numeric, approvals bigint, quota bigint,
               cut_key double precision, cut_id bigint)
language plpgsql
stable
rows 12  -- one per stratum: with the default estimate (1000) the callers' plans joined the
         -- catalogue by a hash over every product
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_rate numeric;
  v_minimum integer;
begin
  select s.sample_rate, s.weekly_minimum into v_rate, v_minimum from imagefill.audit_settings s;
  v_rate := coalesce(v_rate, 0.05);
  v_minimum := coalesce(v_minimum, 20);
  return query
  with counts as (
    select t.source, t.band, sum(t.n)::bigint as n
      from imagefill.audit_week_counts t
     where t.week = p_week
     group by 1, 2 having sum(t.n) > 0
  ),
  quotas as (
    select c.source, c.band, c.n,
           least(c.n, greatest(ceil(v_rate * c.n), ceil(v_minimum * c.n::numeric / sum(c.n) over ())))::bigint as q
      from counts c
  )
  select q.source, q.band, q.n, q.q, k.sample_key, k.id
    from quotas q
    left join lateral (
      select a.sample_key, a.id from public.image_auto_approvals a
       where a.week = p_week and a.source = q.source and a.band = q.band
       order by a.sample_key, a.id
       offset q.q - 1 limit 1
    ) k on true;
end
$$;

-- The panel's second list. p_mode 'sample': the sample still to audit whose picture is still the
-- product's (newest week first, newest first inside it); 'all': every automatic approval, newest
-- first, audited or not, current or replaced since. Cursor: the last row's (approved_at,
-- approval_id) as (p_before_at, p_before_id).
create or replace function public.image_audit_queue(
  p_mode text default 'sample',
  p_limit integer default 20,
  p_before_at timestamptz default null,
  p_before_id bigint default null
)
returns table (
  approval_id bigint,
  product_id uuid,
  name text,
  brand text,
  ean text,
  image_url text,
  original_url text,
  source text,
  site text,
  confidence numeric,
  band numeric,
  reason text,
  approved_at timestamptz,
  verdict text,
  audited_at timestamptz,
  is_current boolean,
  in_sample boolean
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_week date;
  v_left integer := p_limit;
  v_got integer;
  v_at timestamptz := coalesce(p_before_at, 'infinity'::timestamptz);
  v_id bigint := coalesce(p_before_id, 9223372036854775807);
begin
  perform imagefill.assert_image_operator();
  if p_mode is null or p_mode not in ('sample', 'all') then
    raise exception 'p_mode deve ser ''sample'' (amostra a auditar) ou ''all'' (todas) (recebido: %)', p_mode
      using errcode = '22023';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 200 then
    raise exception 'p_limit deve estar entre 1 e 200 (recebido: %)', p_limit using errcode = '22023';
  end if;
  if (p_before_at is null) <> (p_before_id is null) then
    raise exception 'O cursor é o par p_before_at e p_before_id da última linha: informe os dois ou nenhum.'
      using errcode = '22023';
  end if;

  if p_mode = 'all' then
    return query
    with page as (
      select a.* from public.image_auto_approvals a
       where (a.approved_at, a.id) < (v_at, v_id)
       order by a.approved_at desc, a.id desc
       limit p_limit
    ),
    cuts as (
      select w.week, c.* from (select distinct pg.week from page pg) w
      cross join lateral imagefill.audit_sample_cuts(w.week) c
    )
    select a.id, a.product_id, p.name::text, p.brand::text, p.ean::text, a.url,
           a.original_url, a.source::text, a.site, a.confidence, a.band, a.reason, a.approved_at, a.verdict,
           a.audited_at, coalesce(p.image_status = 'ok' and p.image_updated_at = a.approved_at, false),
           coalesce((a.sample_key, a.id) <= (c.cut_key, c.cut_id), c.quota is not null)
      from page a
      join lateral (
        select y.name, y.brand, y.ean, y.image_status, y.image_updated_at
          from public.products y where y.id = a.product_id
      ) p on true
      left join cuts c on c.week = a.week and c.source = a.source and c.band = a.band
     order by a.approved_at desc, a.id desc;
    return;
  end if;

  -- The sample: week by week, newest first; each week's pending sample is read per stratum
  -- from the partial index up to its cut (a few rows per stratum), so a page costs the sample
  -- of the weeks it visits, never the catalogue.
  for v_week in
    select distinct t.week from imagefill.audit_week_counts t
     where t.week <= (v_at at time zone 'UTC')::date
     order by 1 desc
  loop
    return query
    select a.id, a.product_id, p.name::text, p.brand::text, p.ean::text, a.url,
           a.original_url, a.source::text, a.site, a.confidence, a.band, a.reason, a.approved_at, a.verdict,
           a.audited_at, true, true
      from imagefill.audit_sample_cuts(v_week) c
      join lateral (
        select x.* from public.image_auto_approvals x
         where x.week = v_week and x.source = c.source and x.band = c.band and x.verdict is null
           and (x.sample_key, x.id) <= (coalesce(c.cut_key, 'infinity'), coalesce(c.cut_id, 9223372036854775807))
      ) a on true
      -- One product by key per row (a lateral join, whatever the estimates say).
      join lateral (
        select y.name, y.brand, y.ean from public.products y
         where y.id = a.product_id and y.image_status = 'ok' and y.image_updated_at = a.approved_at
      ) p on true
     where (a.approved_at, a.id) < (v_at, v_id)
     order by a.approved_at desc, a.id desc
     limit v_left;
    get diagnostics v_got = row_count;
    v_left := v_left - v_got;
    exit when v_left <= 0;
  end loop;
end
$$;

-- Loads an approval for a decision, locked: two operators on the same item take turns.
create or replace function imagefill.approval_for_audit(p_approval_id bigint)
returns public.image_auto_approvals
language plpgsql
set search_path = ''
as $$
declare
  v_approval public.image_auto_approvals;
begin
  if p_approval_id is null then
    raise exception 'p_approval_id é obrigatório.' using errcode = '22023';
  end if;
  select * into v_approval from public.image_auto_approvals a where a.id = p_approval_id for update;
  if not found then
    raise exception 'Aprovação automática % não encontrada.', p_approval_id using errcode = 'P0002',
      hint = 'Use o approval_id devolvido por image_audit_queue.';
  end if;
  return v_approval;
end
$$;
revoke all on function imagefill.approval_for_audit(bigint) from public;

create or replace function public.confirm_auto_approval(p_approval_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_approval public.image_auto_approvals;
begin
  perform imagefill.assert_image_operator();
  v_approval := imagefill.approval_for_audit(p_approval_id);
  if v_approval.verdict = 'wrong' then
    raise exception 'Esta aprovação já foi desfeita como errada; ela não pode ser confirmada.' using errcode = 'IF021',
      hint = 'Para usar esta imagem, aprove-a na revisão do produto.';
  end if;
  update public.image_auto_approvals a
     set verdict = 'confirmed', audited_by = auth.uid(), audited_at = now()
   where a.id = v_approval.id;
  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  values (v_approval.job_id, v_approval.product_id, 'audit', 'confirmed',
          jsonb_build_object('approval_id', v_approval.id, 'url', v_approval.original_url, 'by', auth.uid()));
  return jsonb_build_object('approval_id', v_approval.id, 'product_id', v_approval.product_id, 'verdict', 'confirmed');
end
$$;

-- "Wrong picture": the approved candidate becomes a person's rejection for the product (the
-- claim hands its URL to the worker, and its perceptual hash keeps the same picture from coming
-- back from another site), the picture leaves the catalogue now (no picture is better than a
-- wrong one on a planogram) and the product goes back through the pipeline with a new job.
-- A newer decision wins: when the product already holds a newer automatic picture, only the
-- verdict and the rejection are recorded; when a person chose the product's current picture,
-- the undo is refused.
create or replace function public.undo_auto_approval(p_approval_id bigint, p_reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_approval public.image_auto_approvals;
  v_product record;
  v_reason text := coalesce(nullif(btrim(coalesce(p_reason, '')), ''), 'imagem errada (auditoria)');
  v_current boolean;
  v_job_id uuid;
begin
  perform imagefill.assert_image_operator();
  if length(v_reason) > 500 then
    raise exception 'O motivo pode ter até 500 caracteres.' using errcode = '22023';
  end if;
  v_approval := imagefill.approval_for_audit(p_approval_id);
  -- The product's row lock orders this undo with a completion of the same product: whichever
  -- commits second sees the other's result.
  select p.id as id, p.gtin, p.image_status, p.image_updated_at, p.image_source
    into v_product
    from public.products p where p.id = v_approval.product_id
    for update;
  v_current := v_product.image_status = 'ok' and v_product.image_updated_at = v_approval.approved_at;

  if not v_current and v_product.image_status = 'ok' and not exists (
       select 1 from public.image_auto_approvals a
        where a.product_id = v_approval.product_id and a.approved_at = v_product.image_updated_at) then
    raise exception 'A imagem atual deste produto foi aprovada por uma pessoa; a auditoria só desfaz aprovações automáticas.'
      using errcode = 'IF020', hint = 'Para trocar a imagem, use a revisão do produto.';
  end if;
  if v_approval.verdict = 'wrong' then
    return jsonb_build_object('approval_id', v_approval.id, 'product_id', v_approval.product_id,
                              'verdict', 'wrong', 'already', true);
  end if;

  if v_approval.original_url is not null then
    insert into public.image_rejected_candidates (product_id, url, reason, rejected_by)
    values (v_approval.product_id, v_approval.original_url, v_reason, auth.uid())
    on conflict (product_id, url) do nothing;
  end if;
  update public.image_auto_approvals a
     set verdict = 'wrong', audited_by = auth.uid(), audited_at = now()
   where a.id = v_approval.id;

  if v_current then
    -- image_reviewed_by stays as it was: the next automatic picture is not a person's choice.
    perform imagefill.as_automation(true);
    update public.products p
       set image_status = 'missing', image_url = null, image_source = null, image_confidence = null,
           image_updated_at = now()
     where p.id = v_approval.product_id;
    perform imagefill.as_automation(false);
    if v_product.gtin is not null then
      select a.job_id into v_job_id
        from imagefill.add_active_job(v_approval.product_id, 'enrich',
               jsonb_build_object('gtin', v_product.gtin, 'force', false)) a;
    end if;
  end if;

  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  values (coalesce(v_job_id, v_approval.job_id), v_approval.product_id, 'audit', 'wrong',
          jsonb_build_object('approval_id', v_approval.id, 'url', v_approval.original_url, 'by', auth.uid(),
                             'reason', v_reason, 'superseded', not v_current));
  return jsonb_build_object('approval_id', v_approval.id, 'product_id', v_approval.product_id, 'verdict', 'wrong',
                            'superseded', not v_current, 'job_id', v_job_id,
                            'status', case when v_current then 'missing' else v_product.image_status::text end);
end
$$;

-- Wilson score interval (95 % by default) for k right out of n.
create or replace function imagefill.wilson_interval(p_right bigint, p_total bigint, p_z double precision default 1.959963984540054,
                                                     out low double precision, out high double precision)
language sql
immutable
set search_path = ''
as $$
  select case when p_total > 0 then (ph + z2 / (2 * n) - p_z * sqrt(ph * (1 - ph) / n + z2 / (4 * n * n))) / (1 + z2 / n) end,
         case when p_total > 0 then (ph + z2 / (2 * n) + p_z * sqrt(ph * (1 - ph) / n + z2 / (4 * n * n))) / (1 + z2 / n) end
    from (select p_total::double precision as n, p_z * p_z as z2,
                 case when p_total > 0 then p_right::double precision / p_total end as ph) x
$$;

-- Measured precision from the audits: per source and band, per source, per band and overall
-- (source/band NULL = all). Reads only audited rows.
create or replace function public.image_audit_precision()
returns table (source text, band numeric, audited bigint, correct bigint, measured_precision double precision,
               wilson_low double precision, wilson_high double precision)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform imagefill.assert_image_operator();
  return query
  select g.source::text, g.band, g.n, g.k, g.k::double precision / g.n, w.low, w.high
    from (select a.source, a.band, count(*) as n, count(*) filter (where a.verdict = 'confirmed') as k,
                 grouping(a.source, a.band) as level
            from public.image_auto_approvals a
           where a.verdict is not null
           group by grouping sets ((a.source, a.band), (a.source), (a.band), ())) g
    cross join lateral imagefill.wilson_interval(g.k, g.n) w
   where g.n > 0
   order by g.level, g.source nulls last, g.band nulls last;
end
$$;

-- A suggested threshold, never applied: for each band start t, the audited approvals with
-- confidence >= t (every source) and the Wilson lower bound of their precision. The lowest t
-- whose bound reaches the target is the suggestion. The sample is proportional within each week,
-- so pooling bands estimates the precision of everything approved above t.
create or replace function public.image_audit_threshold(p_target double precision default null)
returns table (threshold numeric, audited bigint, correct bigint, wilson_low double precision,
               target double precision, meets_target boolean)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_target double precision := p_target;
begin
  perform imagefill.assert_image_operator();
  if v_target is null then
    select s.target_precision into v_target from imagefill.audit_settings s;
  end if;
  if v_target is null or v_target <= 0 or v_target >= 1 then
    raise exception 'p_target deve estar entre 0 e 1 (recebido: %)', v_target using errcode = '22023';
  end if;
  -- Confidence >= a band's start is exactly "in that band or a higher one": one pass over the
  -- audited rows by band, then running sums from the top band down.
  return query
  select t.band, t.n::bigint, t.k::bigint, w.low, v_target, coalesce(w.low >= v_target, false)
    from (select b.band, sum(b.n) over above as n, sum(b.k) over above as k
            from (select a.band, count(*) as n, count(*) filter (where a.verdict = 'confirmed') as k
                    from public.image_auto_approvals a
                   where a.verdict is not null
                   group by a.band) b
          window above as (order by b.band desc rows between unbounded preceding and current row)) t
    cross join lateral imagefill.wilson_interval(t.k::bigint, t.n::bigint) w
   order by t.band;
end
$$;

-- `imagefill eval --from-audits`: every audited approval as a labelled row (the picture the judge
-- saw, by its original URL, and the person's verdict), oldest audit first.
create or replace function imagefill.audited_approvals()
returns table (approval_id bigint, ean text, name text, brand text, original_url text, correct boolean,
               source text, confidence numeric, approved_at timestamptz, audited_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select a.id, p.ean::text, p.name::text, p.brand::text, a.original_url,
         a.verdict = 'confirmed', a.source::text, a.confidence, a.approved_at, a.audited_at
    from public.image_auto_approvals a
    join public.products p on p.id = a.product_id
   where a.verdict is not null
   order by a.audited_at, a.id;
$$;

revoke all on function
  imagefill.audit_sample_key(text),
  imagefill.record_auto_approval(),
  imagefill.untally_auto_approvals(),
  imagefill.untally_truncated_approvals(),
  imagefill.fold_audit_week_counts(date),
  imagefill.audit_sample_cuts(date),
  imagefill.wilson_interval(bigint, bigint, double precision),
  imagefill.audited_approvals()
from public;
grant execute on function imagefill.wilson_interval(bigint, bigint, double precision),
  imagefill.audited_approvals() to service_role;
revoke all on function
  public.image_audit_queue(text, integer, timestamptz, bigint),
  public.confirm_auto_approval(bigint),
  public.undo_auto_approval(bigint, text),
  public.image_audit_precision(),
  public.image_audit_threshold(double precision)
from public, anon;
grant execute on function
  public.image_audit_queue(text, integer, timestamptz, bigint),
  public.confirm_auto_approval(bigint),
  public.undo_auto_approval(bigint, text),
  public.image_audit_precision(),
  public.image_audit_threshold(double precision)
to authenticated;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000169', 'imagefill_approval_audit', 'ef136a90317d103062a4624a67cee65bc7656a1437964f9c530c3f971a81feaa')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
