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

-- The picture column is the app's too (image_url): a picture the app (or a person in the
-- SQL editor) writes there is the person's picture. The product becomes `ok` with source
-- `manual` and confidence 1 (what the writer set itself is kept), so it is never queued, and
-- imagefill_enqueue_on_update ends any job still queued for it. Clearing the column of an `ok`
-- product means it has no picture again: `missing`, queued like any product without one.
-- Imagefill's own writes (automation) pass untouched. Triggers fire in name order: this one runs
-- after imagefill_blank_image_url ('' is already NULL here) and after
-- imagefill_reset_on_ean_change (a picture written together with a new EAN stays ok).
-- SECURITY DEFINER: the app's own role (service_role, authenticated) needs no access to the
-- imagefill schema for its writes.
create or replace function imagefill.take_persons_picture()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if imagefill.is_automation() then
    return new;
  end if;
  if new.image_url is not null then
    new.image_status := 'ok';
    if tg_op = 'INSERT' then
      new.image_source := coalesce(new.image_source, 'manual');
      new.image_confidence := coalesce(new.image_confidence, 1);
      new.image_updated_at := coalesce(new.image_updated_at, now());
    else
      if new.image_source is not distinct from old.image_source then
        new.image_source := 'manual';
      end if;
      if new.image_confidence is not distinct from old.image_confidence then
        new.image_confidence := 1;
      end if;
      if new.image_updated_at is not distinct from old.image_updated_at then
        new.image_updated_at := now();
      end if;
    end if;
  elsif tg_op = 'UPDATE' then
    if new.image_status = 'ok' then
      new.image_status := 'missing';
    end if;
    new.image_source := null;
    new.image_confidence := null;
    new.image_updated_at := null;
  end if;
  return new;
end
$$;

-- INSERT: only rows that come with a picture call the function (a bulk insert without pictures
-- pays for the WHEN alone). UPDATE: only when the picture really changed.
create or replace trigger imagefill_take_persons_picture_on_insert
  before insert on public.products
  for each row
  when (new.image_url is not null)
  execute function imagefill.take_persons_picture();

create or replace trigger imagefill_take_persons_picture_on_update
  before update of image_url on public.products
  for each row
  when (new.image_url is distinct from old.image_url)
  execute function imagefill.take_persons_picture();

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
  imagefill.take_persons_picture(),
  imagefill.job_product_label(uuid),
  imagefill.products_outside_queue()
from public;
grant execute on function imagefill.job_product_label(uuid), imagefill.products_outside_queue() to service_role;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000119', 'imagefill_install_and_operations', '167770d95a63b62183fc20513827ee1a5df561d635ed57fb62dc675eb1fd9ae8')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
