-- Imagefill: where the money went, for the people who decide (issue 20). `imagefill status`
-- prints the cost per product by where it ended up this month (approved from Open Food Facts,
-- approved from the search, left for review); the /monitoramento panel shows this month's spend
-- per provider against the caps the workers run with.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- This month's usage lines without touching the history before it: a range on created_at that
-- carries the columns the sums need (an index-only scan once the table is vacuumed).
create index if not exists usage_records_created_idx on imagefill.usage_records (created_at)
  include (product_id, model, purpose, input_tokens, output_tokens, requests);

-- The caps the workers run with (BUDGET_* settings), as the last worker to start read them: the
-- panel cannot read the workers' environment. One row.
create table if not exists imagefill.spend_caps (
  singleton boolean primary key default true check (singleton),
  monthly_usd numeric,
  daily_usd numeric,
  monthly_requests jsonb not null default '{}'::jsonb,
  recorded_at timestamptz not null default now()
);
revoke all on imagefill.spend_caps from public;
grant select on imagefill.spend_caps to service_role;

create or replace function imagefill.record_spend_caps(
  p_monthly_usd numeric,
  p_daily_usd numeric,
  p_monthly_requests jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into imagefill.spend_caps as c (singleton, monthly_usd, daily_usd, monthly_requests, recorded_at)
  values (true, p_monthly_usd, p_daily_usd, coalesce(p_monthly_requests, '{}'::jsonb), now())
  on conflict (singleton) do update
     set monthly_usd = excluded.monthly_usd, daily_usd = excluded.daily_usd,
         monthly_requests = excluded.monthly_requests, recorded_at = excluded.recorded_at;
$$;

-- This month's spend per product, grouped by where the product is now: `openfoodfacts` and
-- `search` (approved automatically by that stage; the browser search counts as search),
-- `manual` (approved by a person), `needs_review`, `other` (waiting, failed or deleted). Prices
-- are the worker's settings: `p_prices` {"model": [US$ per 1M input tokens, per 1M output]}
-- (longest prefix wins, as in OPENAI_PRICES; an unpriced model costs 0) and the search's US$ per
-- request. Products with no paid call this month are not counted.
create or replace function imagefill.spend_per_outcome(p_prices jsonb, p_search_usd_per_request numeric)
returns table (outcome text, products bigint, openai_usd numeric, search_usd numeric)
language sql
stable
set search_path = ''
as $$
  with w as (
    select s.month_start::timestamp at time zone 'UTC' as since from imagefill.spend_windows() s
  ),
  lines as (
    select u.product_id, u.model, u.purpose = 'image_search' as search,
           sum(u.input_tokens)::numeric as input_tokens, sum(u.output_tokens)::numeric as output_tokens,
           sum(u.requests)::numeric as requests
      from imagefill.usage_records u, w
     where u.created_at >= w.since
     group by 1, 2, 3
  ),
  models as (
    select m.model,
           (select p.value from jsonb_each(coalesce(p_prices, '{}'::jsonb)) p
             where left(m.model, length(p.key)) = p.key
             order by length(p.key) desc limit 1) as price
      from (select distinct l.model from lines l where not l.search) m
  ),
  per_product as (
    select l.product_id,
           sum(case when l.search then 0
                    else (l.input_tokens * coalesce((m.price ->> 0)::numeric, 0)
                          + l.output_tokens * coalesce((m.price ->> 1)::numeric, 0)) / 1000000 end) as openai_usd,
           sum(case when l.search then l.requests * coalesce(p_search_usd_per_request, 0) else 0 end) as search_usd
      from lines l
      left join models m on m.model = l.model and not l.search
     group by l.product_id
  )
  select case when p.image_status = 'ok' and p.image_source = 'openfoodfacts' then 'openfoodfacts'
              when p.image_status = 'ok' and p.image_source in ('search_api', 'browser') then 'search'
              when p.image_status = 'ok' then 'manual'
              when p.image_status = 'needs_review' then 'needs_review'
              else 'other' end as outcome,
         count(*), sum(x.openai_usd), sum(x.search_usd)
    from per_product x
    left join public.products p on p.id = x.product_id
   group by 1
   order by 1;
$$;

revoke all on function
  imagefill.record_spend_caps(numeric, numeric, jsonb),
  imagefill.spend_per_outcome(jsonb, numeric)
from public;
grant execute on function
  imagefill.record_spend_caps(numeric, numeric, jsonb),
  imagefill.spend_per_outcome(jsonb, numeric)
to service_role;

-- The panel's view of the budget (operators only): this month's and today's spend per provider,
-- what is in flight, the caps the workers run with and when each window resets.
create or replace function public.image_spend_summary()
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
  select jsonb_build_object(
           'providers', coalesce((select jsonb_agg(jsonb_build_object(
                                          'provider', s.provider,
                                          'month_usd', s.month_usd,
                                          'month_requests', s.month_requests,
                                          'day_usd', s.day_usd,
                                          'reserved_usd', s.reserved_usd,
                                          'monthly_requests_cap', c.monthly_requests -> s.provider)
                                        order by s.provider)
                                    from imagefill.spend_summary() s), '[]'::jsonb),
           'monthly_usd_cap', c.monthly_usd,
           'daily_usd_cap', c.daily_usd,
           'caps_recorded_at', c.recorded_at,
           'month_resets_at', w.month_resets_at,
           'day_resets_at', w.day_resets_at)
    into v_result
    from imagefill.spend_windows() w
    left join imagefill.spend_caps c on true;
  return v_result;
end
$$;

revoke all on function public.image_spend_summary() from public, anon;
grant execute on function public.image_spend_summary() to authenticated, service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000165', 'imagefill_spend_views', '1647b6a38e37e421a0ce7fcda92ccef59ff7563f1a4cbb7ebfc6abbc71421477')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
