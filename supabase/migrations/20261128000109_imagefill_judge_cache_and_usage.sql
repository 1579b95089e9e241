-- Imagefill: the OpenAI judge's verdict cache and the usage (tokens, search requests) of every call.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Both live in the private `imagefill` schema: the Data API never exposes them, only the worker
-- (service_role) reads and writes them, and only through the functions below.

-- One verdict per (product, picture, model, what the judge was told): a retried job, or the same
-- picture found again by a later search, never pays for the same answer twice. `facts_sha256`
-- covers the product's name/brand/GTIN, the Open Food Facts evidence and the prompt version, so
-- an edited product is judged again.
create table if not exists imagefill.judge_verdicts (
  product_id uuid not null references public.products (id) on delete cascade,
  image_sha256 text not null,
  model text not null,
  facts_sha256 text not null,
  verdict jsonb not null,
  created_at timestamptz not null default now(),
  primary key (product_id, image_sha256, model, facts_sha256)
);

-- Every paid call, on the job that made it: tokens for OpenAI, requests for the search API.
-- No foreign keys on purpose: the bill outlives deleted jobs and products.
create table if not exists imagefill.usage_records (
  id bigint generated always as identity primary key,
  job_id uuid,
  product_id uuid,
  model text not null,
  purpose text not null,
  input_tokens integer not null default 0 check (input_tokens >= 0),
  output_tokens integer not null default 0 check (output_tokens >= 0),
  requests integer not null default 1 check (requests >= 0),
  created_at timestamptz not null default now()
);
create index if not exists usage_records_job_idx on imagefill.usage_records (job_id);

revoke all on imagefill.judge_verdicts, imagefill.usage_records from public;
grant select, insert, update, delete on imagefill.judge_verdicts to service_role;
grant select, insert on imagefill.usage_records to service_role;

create or replace function imagefill.cached_verdict(
  p_product_id text,
  p_image_sha256 text,
  p_model text,
  p_facts_sha256 text
)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select v.verdict from imagefill.judge_verdicts v
   where v.product_id = p_product_id::uuid and v.image_sha256 = p_image_sha256
     and v.model = p_model and v.facts_sha256 = p_facts_sha256;
$$;

create or replace function imagefill.store_verdict(
  p_product_id text,
  p_image_sha256 text,
  p_model text,
  p_facts_sha256 text,
  p_verdict jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into imagefill.judge_verdicts (product_id, image_sha256, model, facts_sha256, verdict)
  values (p_product_id::uuid, p_image_sha256, p_model, p_facts_sha256, p_verdict)
  on conflict (product_id, image_sha256, model, facts_sha256)
  do update set verdict = excluded.verdict, created_at = now();
$$;

-- The job's product is looked up here, so the caller cannot book usage on another product.
create or replace function imagefill.record_usage(
  p_job_id uuid,
  p_model text,
  p_purpose text,
  p_input_tokens integer,
  p_output_tokens integer,
  p_requests integer default 1
)
returns void
language sql
set search_path = ''
as $$
  insert into imagefill.usage_records (job_id, product_id, model, purpose, input_tokens, output_tokens, requests)
  select p_job_id, j.product_id, p_model, p_purpose, greatest(p_input_tokens, 0), greatest(p_output_tokens, 0),
         greatest(p_requests, 0)
    from (select 1) one
    left join public.image_jobs j on j.id = p_job_id;
$$;

-- Pictures a person rejected for this product, by perceptual hash: a search must not bring the
-- same picture back from another site.
create or replace function imagefill.rejected_picture_hashes(p_product_id text)
returns text[]
language sql
stable
set search_path = ''
as $$
  select coalesce(array_agg(distinct c ->> 'dhash'), '{}')
    from public.products p
    cross join lateral jsonb_array_elements(p.image_candidate_urls) c
   where p.id = p_product_id::uuid and c ? 'dhash'
     and exists (select 1 from public.image_rejected_candidates r
                  where r.product_id = p.id and r.url = c ->> 'url');
$$;

-- What `imagefill status` prints: calls and tokens per model and purpose (prices are settings).
create or replace function imagefill.usage_summary()
returns table (
  model text,
  purpose text,
  products bigint,
  requests bigint,
  input_tokens bigint,
  output_tokens bigint
)
language sql
stable
set search_path = ''
as $$
  select u.model, u.purpose, count(distinct u.product_id), sum(u.requests)::bigint,
         sum(u.input_tokens)::bigint, sum(u.output_tokens)::bigint
    from imagefill.usage_records u
   group by u.model, u.purpose
   order by u.model, u.purpose;
$$;

-- Where every stored picture came from, in a form a person can check before reusing it
-- (`imagefill provenance`): the original URL, the page and site it was found on, its licence
-- and attribution (Open Food Facts pictures are CC BY-SA), who approved it. Read from the job
-- that stored the current picture.
create or replace function imagefill.image_provenance()
returns table (
  product_id text,
  name text,
  ean text,
  image_source text,
  image_confidence numeric,
  image_updated_at timestamptz,
  image_url text,
  original_url text,
  page_url text,
  page_host text,
  license text,
  attribution text,
  reviewed_by uuid
)
language sql
stable
set search_path = ''
as $$
  select p.id::text, p.name::text, p.ean::text, p.image_source::text,
         p.image_confidence, p.image_updated_at, p.image_url::text,
         j.result ->> 'original_url', j.result ->> 'page_url', j.result ->> 'page_host',
         coalesce(j.result ->> 'license',
                  case when p.image_source = 'openfoodfacts' then 'CC BY-SA 3.0' end),
         coalesce(j.result ->> 'attribution',
                  case when p.image_source = 'openfoodfacts' then 'Open Food Facts contributors' end),
         p.image_reviewed_by
    from public.products p
    left join lateral (
      select x.result from public.image_jobs x
       where x.product_id = p.id and x.status = 'done' and x.result ? 'original_url'
       order by x.finished_at desc nulls last
       limit 1
    ) j on true
   where p.image_status = 'ok'
   order by p.image_updated_at desc nulls last;
$$;

revoke all on function
  imagefill.cached_verdict(text, text, text, text),
  imagefill.store_verdict(text, text, text, text, jsonb),
  imagefill.record_usage(uuid, text, text, integer, integer, integer),
  imagefill.rejected_picture_hashes(text),
  imagefill.usage_summary(),
  imagefill.image_provenance()
from public;
grant execute on function
  imagefill.cached_verdict(text, text, text, text),
  imagefill.store_verdict(text, text, text, text, jsonb),
  imagefill.record_usage(uuid, text, text, integer, integer, integer),
  imagefill.rejected_picture_hashes(text),
  imagefill.usage_summary(),
  imagefill.image_provenance()
to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000109', 'imagefill_judge_cache_and_usage', '96d40d60bf42f9ca778dba233fbe841b23369e09bfd260258d62852f28873ce8')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
