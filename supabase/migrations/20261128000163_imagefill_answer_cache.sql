-- Imagefill: paid answers kept per product and question, so a retried job or a "reject and retry"
-- does not pay twice for the same question within the cache's lifetime (ANSWER_CACHE_TTL_HOURS).
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- At most one row per product and question (a newer answer replaces the older), so the table
-- grows with the catalogue, not with retries.
--
-- Two kinds today: `image_search` (the provider's hits for one query, keyed by provider, result
-- count and query text) and `attributes` (what OpenAI extracted from the product's name and
-- brand, keyed by model, name and brand). The judge's verdicts have their own cache
-- (imagefill.judge_verdicts): they are keyed by picture, not by question.
-- Private schema: only the worker (service_role) reads and writes it, through the functions below.
create table if not exists imagefill.answer_cache (
  product_id uuid not null references public.products (id) on delete cascade,
  purpose text not null,
  question_sha256 text not null,
  answer jsonb not null,
  created_at timestamptz not null default now(),
  primary key (product_id, purpose, question_sha256)
);

revoke all on imagefill.answer_cache from public;
grant select, insert, update, delete on imagefill.answer_cache to service_role;

-- The answer when it is younger than the lifetime the caller allows (0 seconds: never cached).
create or replace function imagefill.cached_answer(
  p_product_id text,
  p_purpose text,
  p_question_sha256 text,
  p_ttl_seconds integer
)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select a.answer from imagefill.answer_cache a
   where a.product_id = p_product_id::uuid and a.purpose = p_purpose
     and a.question_sha256 = p_question_sha256
     and a.created_at > now() - make_interval(secs => greatest(p_ttl_seconds, 0));
$$;

-- A newer answer to the same question replaces the old one (and its age).
create or replace function imagefill.store_answer(
  p_product_id text,
  p_purpose text,
  p_question_sha256 text,
  p_answer jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into imagefill.answer_cache (product_id, purpose, question_sha256, answer)
  values (p_product_id::uuid, p_purpose, p_question_sha256, p_answer)
  on conflict (product_id, purpose, question_sha256)
  do update set answer = excluded.answer, created_at = now();
$$;

revoke all on function
  imagefill.cached_answer(text, text, text, integer),
  imagefill.store_answer(text, text, text, jsonb)
from public;
grant execute on function
  imagefill.cached_answer(text, text, text, integer),
  imagefill.store_answer(text, text, text, jsonb)
to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000163', 'imagefill_answer_cache', '4b8bbe52f2f5983f9424e82f8dead1cffde59ba5eec2b505e384b3ac35e40b44')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
