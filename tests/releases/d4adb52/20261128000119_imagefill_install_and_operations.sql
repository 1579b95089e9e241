-- Imagefill: living beside an existing app, and what `imagefill status` tells an operator.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- Many apps store "no picture" as '' (or blanks). The install turned those into NULL; this keeps
-- the app's own later writes working instead of tripping the provenance CHECK. The WHEN clause
-- is evaluated without calling the function, so ordinary writes pay nothing.
create or replace function imagefill.blank_image_url_is_null()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.image_url := null;
  return new;
end
$$;

create or replace trigger imagefill_blank_image_url
  before insert or update of image_url on public.products
  for each row
  when (new.image_url ~ '^[[:space:]]*$')
  execute function imagefill.blank_image_url_is_null();

-- `imagefill status` names the oldest waiting job's product (its name and EAN live in the
-- catalogue, whose table and columns depend on the rendering).
create or replace function imagefill.job_product_label(p_job_id uuid)
returns table (name text, ean text)
language sql
stable
set search_path = ''
as $$
  select p.name::text, p.ean::text
    from public.image_jobs j
    join public.products p on p.id = j.product_id
   where j.id = p_job_id
$$;

-- Products that lack a picture, have a valid EAN and no active job: what a backfill would take.
-- The triggers queue products inserted or changed after the install; the catalogue that was
-- already there waits here. Served by the partial index products_image_pending_idx.
create or replace function imagefill.products_outside_queue()
returns bigint
language sql
stable
set search_path = ''
as $$
  select count(*)
    from public.products p
   where p.image_status in ('missing', 'error') and p.gtin is not null
     and not exists (select 1 from public.image_jobs j
                      where j.product_id = p.id and j.kind = 'enrich'
                        and j.status in ('queued', 'running'))
$$;

revoke all on function
  imagefill.blank_image_url_is_null(),
  imagefill.job_product_label(uuid),
  imagefill.products_outside_queue()
from public;
grant execute on function imagefill.job_product_label(uuid), imagefill.products_outside_queue() to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000119', 'imagefill_install_and_operations')
on conflict (version) do update set applied_at = now();
