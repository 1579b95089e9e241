-- Imagefill: the review panel's API. The Next.js UI calls these with supabase.rpc(...).
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Every function: SECURITY DEFINER with an empty search_path and schema-qualified names,
-- asks imagefill.assert_image_operator() first, validates its input, raises errors a person can
-- act on (in Portuguese), and is executable by `authenticated` only.

create or replace function public.enqueue_image_backfill(p_limit integer default 50)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_batch uuid := gen_random_uuid();
  v_adopted integer;
  v_new integer;
begin
  perform imagefill.assert_image_operator();
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception 'p_limit deve estar entre 1 e 10000 (recebido: %)', p_limit using errcode = '22023';
  end if;

  -- Jobs the triggers already queued join this batch first, so its progress covers them too.
  with adoptable as (
    select j.id from public.image_jobs j
     where j.status = 'queued' and j.kind = 'enrich' and j.batch_id is null
     order by j.run_after, j.created_at
     limit p_limit
     for update skip locked
  )
  update public.image_jobs j set batch_id = v_batch, updated_at = now()
    from adoptable a where j.id = a.id;
  get diagnostics v_adopted = row_count;

  -- Then products that still lack an image and have no active job.
  insert into public.image_jobs (product_id, kind, batch_id, payload)
  select p.id, 'enrich', v_batch, jsonb_build_object('gtin', p.gtin)
    from public.products p
   where p.image_status in ('missing', 'error') and p.gtin is not null
     and not exists (select 1 from public.image_jobs j
                      where j.product_id = p.id and j.kind = 'enrich' and j.status in ('queued', 'running'))
   order by p.id
   limit p_limit - v_adopted
  on conflict (product_id, kind) where status in ('queued', 'running') do nothing;
  get diagnostics v_new = row_count;

  return jsonb_build_object(
    'batch_id', case when v_adopted + v_new > 0 then v_batch end,
    'enqueued', v_adopted + v_new,
    'new', v_new,
    'adopted', v_adopted);
end
$$;

create or replace function public.image_backfill_progress(p_batch_id uuid default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  perform imagefill.assert_image_operator();
  if p_batch_id is null then
    -- The whole catalogue from the maintained counters (50_panel_counters): constant time at
    -- any catalogue size. `queued`/`running` count jobs (a product rarely has two at once).
    select jsonb_build_object(
             'total', coalesce(sum(value::bigint) filter (where key like 'products:%'), 0),
             'queued', coalesce(sum(value::bigint) filter (where key = 'jobs:queued'), 0),
             'running', coalesce(sum(value::bigint) filter (where key = 'jobs:running'), 0),
             'ok', coalesce(sum(value::bigint) filter (where key like 'products:ok%'), 0),
             'needs_review', coalesce(sum(value::bigint) filter (where key like 'products:needs\_review%'), 0),
             'error', coalesce(sum(value::bigint) filter (where key like 'products:error%'), 0),
             'missing', coalesce(sum(value::bigint) filter (where key like 'products:missing%'
                                                                or key like 'products:fetching%'), 0),
             'invalid_ean', coalesce(sum(value::bigint) filter (where key like 'products:%:no\_gtin'
                                                                    and key <> 'products:ok:no_gtin'), 0))
      into v_result
      from jsonb_each_text(imagefill.image_counters());
    return v_result;
  end if;

  -- One batch, by its jobs; a finished job counts by what it did to the product.
  select jsonb_build_object(
           'batch_id', p_batch_id,
           'total', count(*),
           'queued', count(*) filter (where j.status = 'queued'),
           'running', count(*) filter (where j.status = 'running'),
           'ok', count(*) filter (where j.status = 'done' and p.image_status = 'ok'),
           'needs_review', count(*) filter (where j.status = 'done' and p.image_status = 'needs_review'),
           'error', count(*) filter (where j.status = 'failed'),
           'done', count(*) filter (where j.status in ('done', 'failed')))
    into v_result
    from public.image_jobs j
    join public.products p on p.id = j.product_id
   where j.batch_id = p_batch_id;
  if (v_result ->> 'total')::int = 0 then
    raise exception 'Lote % não encontrado.', p_batch_id
      using errcode = 'P0002', hint = 'Use o batch_id devolvido por enqueue_image_backfill.';
  end if;
  return v_result;
end
$$;

-- The pre-cursor signature: dropped so that a call with two arguments is not ambiguous.
drop function if exists public.image_review_queue(integer, integer);

-- Pages through products in review by key. `p_after` (the last product_id of the previous page)
-- is the cursor: the page starts right after it, straight from the partial index, as fast on the
-- last page as on the first. `p_offset` still works (older callers) but costs O(offset).
-- total_count comes from the maintained counters, not from counting every row in review.
create or replace function public.image_review_queue(
  p_limit integer default 20,
  p_offset integer default 0,
  p_after uuid default null
)
returns table (
  product_id uuid,
  name text,
  brand text,
  ean text,
  gtin text,
  image_status public.image_status,
  candidates jsonb,
  last_error text,
  total_count bigint
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_page uuid[];
  v_total bigint;
begin
  perform imagefill.assert_image_operator();
  if p_limit is null or p_limit < 1 or p_limit > 200 then
    raise exception 'p_limit deve estar entre 1 e 200 (recebido: %)', p_limit using errcode = '22023';
  end if;
  if p_offset is null or p_offset < 0 then
    raise exception 'p_offset não pode ser negativo (recebido: %)', p_offset using errcode = '22023';
  end if;

  -- Two statements rather than `p_after is null or id > p_after`: a cached generic plan could
  -- not turn that OR into an index condition and would scan from the first key.
  if p_after is null then
    v_page := array(select p.id from public.products p
                     where p.image_status = 'needs_review'
                     order by p.id limit p_limit offset p_offset);
  else
    v_page := array(select p.id from public.products p
                     where p.image_status = 'needs_review' and p.id > p_after
                     order by p.id limit p_limit offset p_offset);
  end if;
  select coalesce(sum(value::bigint), 0) into v_total
    from jsonb_each_text(imagefill.image_counters())
   where key in ('products:needs_review', 'products:needs_review:no_gtin');

  return query
  select p.id, p.name::text, p.brand::text, p.ean::text, p.gtin, p.image_status,
         coalesce(c.candidates, '[]'::jsonb), j.last_error, v_total
    from unnest(v_page) with ordinality as k(id, ord)
    join public.products p on p.id = k.id
    -- Live candidates only: best first, one entry per URL, never one a person rejected.
    left join lateral (
      select jsonb_agg(d.candidate order by (d.candidate ->> 'confidence')::numeric desc nulls last) as candidates
        from (select distinct on (e ->> 'url') e as candidate
                from jsonb_array_elements(p.image_candidate_urls) e
                left join public.image_rejected_candidates r
                  on r.product_id = p.id and r.url = e ->> 'url'
               where e ->> 'url' is not null
                 and coalesce((e ->> 'usable')::boolean, true)
                 and r.url is null
               order by e ->> 'url', (e ->> 'confidence')::numeric desc nulls last) d
    ) c on true
    left join lateral (
      select x.last_error from public.image_jobs x
       where x.product_id = p.id order by x.updated_at desc limit 1
    ) j on true
   order by k.ord;
end
$$;

create or replace function imagefill.product_for_review(
  p_product_id uuid,
  out id uuid,
  out gtin text,
  out image_status public.image_status,
  out image_candidate_urls jsonb
)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_product_id is null then
    raise exception 'p_product_id é obrigatório.' using errcode = '22023';
  end if;
  select p.id, p.gtin, p.image_status, p.image_candidate_urls
    into id, gtin, image_status, image_candidate_urls
    from public.products p where p.id = p_product_id;
  if not found then
    raise exception 'Produto % não encontrado.', p_product_id using errcode = 'P0002';
  end if;
end
$$;
revoke all on function imagefill.product_for_review(uuid) from public;

create or replace function public.approve_product_image(p_product_id uuid, p_url text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_product record;
  v_url text := btrim(coalesce(p_url, ''));
  v_source public.image_source;
  v_unsafe text;
  v_job_id uuid;
begin
  perform imagefill.assert_image_operator();
  select * into v_product from imagefill.product_for_review(p_product_id);
  if v_url !~* '^https?://[^[:space:]/?#]+[^[:space:]]*$' or length(v_url) > 2048 then
    raise exception 'URL de imagem inválida: informe um endereço http(s) completo.' using errcode = '22023';
  end if;

  -- The candidate's own source when the person picked one of ours; `manual` for a pasted URL.
  select (e ->> 'source')::public.image_source into v_source
    from jsonb_array_elements(v_product.image_candidate_urls) e
   where e ->> 'url' = v_url and e ->> 'source' in ('openfoodfacts', 'search_api', 'browser', 'manual')
   limit 1;
  -- A pasted URL must not name an internal address (a candidate already passed the worker's guard).
  if v_source is null then
    v_unsafe := imagefill.private_url_host(v_url);
    if v_unsafe is not null then
      raise exception 'URL de imagem recusada: %.', v_unsafe using errcode = '22023',
        hint = 'Cole o endereço público da imagem (http ou https).';
    end if;
  end if;

  perform imagefill.as_automation(true);
  update public.products p
     set image_reviewed_by = auth.uid(), image_reviewed_at = now(), image_status = 'fetching'
   where p.id = p_product_id;
  delete from public.image_rejected_candidates r where r.product_id = p_product_id and r.url = v_url;
  perform imagefill.as_automation(false);

  insert into public.image_jobs (product_id, kind, payload)
  values (p_product_id, 'approve', jsonb_build_object(
            'url', v_url, 'source', coalesce(v_source, 'manual'), 'approved_by', auth.uid()))
  on conflict (product_id, kind) where status in ('queued', 'running')
  do update set payload = excluded.payload, updated_at = now()
  returning id into v_job_id;

  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  values (v_job_id, p_product_id, 'review', 'approved',
          jsonb_build_object('url', v_url, 'by', auth.uid(), 'source', coalesce(v_source, 'manual')));

  return jsonb_build_object('job_id', v_job_id, 'product_id', p_product_id,
                            'source', coalesce(v_source, 'manual'), 'status', 'fetching');
end
$$;

create or replace function public.reject_product_image(p_product_id uuid, p_reason text, p_retry boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_product record;
  v_reason text := btrim(coalesce(p_reason, ''));
  v_rejected integer;
  v_job_id uuid;
begin
  perform imagefill.assert_image_operator();
  select * into v_product from imagefill.product_for_review(p_product_id);
  if v_reason = '' or length(v_reason) > 500 then
    raise exception 'Informe o motivo da rejeição (até 500 caracteres).' using errcode = '22023';
  end if;

  insert into public.image_rejected_candidates (product_id, url, reason, rejected_by)
  select distinct p_product_id, e ->> 'url', v_reason, auth.uid()
    from jsonb_array_elements(v_product.image_candidate_urls) e
   where e ->> 'url' is not null
  on conflict (product_id, url) do nothing;
  get diagnostics v_rejected = row_count;

  perform imagefill.as_automation(true);
  update public.products p
     set image_reviewed_by = auth.uid(), image_reviewed_at = now(),
         image_status = case when coalesce(p_retry, false) and p.image_status <> 'ok' then 'missing'
                             else p.image_status end
   where p.id = p_product_id;
  perform imagefill.as_automation(false);

  if coalesce(p_retry, false) and v_product.gtin is not null then
    insert into public.image_jobs (product_id, kind, payload)
    values (p_product_id, 'enrich', jsonb_build_object('gtin', v_product.gtin, 'force', v_product.image_status = 'ok'))
    on conflict (product_id, kind) where status in ('queued', 'running') do nothing
    returning id into v_job_id;
  end if;

  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  values (v_job_id, p_product_id, 'review', 'rejected',
          jsonb_build_object('reason', v_reason, 'by', auth.uid(), 'rejected', v_rejected, 'retry', coalesce(p_retry, false)));

  return jsonb_build_object('product_id', p_product_id, 'rejected', v_rejected, 'job_id', v_job_id);
end
$$;

-- The one active job of a kind for a product: a new one, or the one already queued or running
-- (a person clicking twice, or the panel and the CLI at once, never makes two).
create or replace function imagefill.add_active_job(
  p_product_id uuid, p_kind public.image_job_kind, p_payload jsonb,
  out job_id uuid, out created boolean
)
language plpgsql
set search_path = ''
as $$
begin
  insert into public.image_jobs (product_id, kind, payload)
  values (p_product_id, p_kind, p_payload)
  on conflict (product_id, kind) where status in ('queued', 'running') do nothing
  returning id into job_id;
  created := job_id is not null;
  if not created then
    select j.id into job_id from public.image_jobs j
     where j.product_id = p_product_id and j.kind = p_kind and j.status in ('queued', 'running');
  end if;
end
$$;
revoke all on function imagefill.add_active_job(uuid, public.image_job_kind, jsonb) from public;

create or replace function public.enqueue_product_image(p_product_id uuid, p_force boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_product record;
  v_job_id uuid;
  v_created boolean;
begin
  perform imagefill.assert_image_operator();
  select * into v_product from imagefill.product_for_review(p_product_id);
  if v_product.gtin is null then
    raise exception 'Produto % não tem EAN/GTIN válido; corrija o código de barras antes de buscar a imagem.', p_product_id
      using errcode = '22023';
  end if;
  if v_product.image_status = 'ok' and not coalesce(p_force, false) then
    return jsonb_build_object('enqueued', false, 'product_id', p_product_id,
                              'reason', 'O produto já tem imagem; use p_force => true para buscar de novo.');
  end if;

  select a.job_id, a.created into v_job_id, v_created
    from imagefill.add_active_job(p_product_id, 'enrich',
           jsonb_build_object('gtin', v_product.gtin, 'force', coalesce(p_force, false))) a;
  if not v_created then
    return jsonb_build_object('enqueued', false, 'product_id', p_product_id, 'job_id', v_job_id,
                              'reason', 'Já existe um job ativo para este produto.');
  end if;
  return jsonb_build_object('enqueued', true, 'product_id', p_product_id, 'job_id', v_job_id);
end
$$;

revoke all on function
  public.enqueue_image_backfill(integer),
  public.image_backfill_progress(uuid),
  public.image_review_queue(integer, integer, uuid),
  public.approve_product_image(uuid, text),
  public.reject_product_image(uuid, text, boolean),
  public.enqueue_product_image(uuid, boolean)
from public, anon;
grant execute on function
  public.enqueue_image_backfill(integer),
  public.image_backfill_progress(uuid),
  public.image_review_queue(integer, integer, uuid),
  public.approve_product_image(uuid, text),
  public.reject_product_image(uuid, text, boolean),
  public.enqueue_product_image(uuid, boolean)
to authenticated;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000106', 'imagefill_review_rpcs', '1c885605992cc07f5c050859747889d0dc4e942e56bdccd4610eb3b110d6fa69')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
