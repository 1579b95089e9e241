-- Imagefill: who may act on the review panel.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- The one place that decides who is an image operator. Default: any signed-in user.
-- Created only if absent, so your own version (see the README) survives re-running migrations.
do $$
begin
  if to_regprocedure('public.is_image_operator()') is null then
    create function public.is_image_operator()
    returns boolean
    language sql
    stable
    set search_path = ''
    as $body$
      select auth.uid() is not null
    $body$;
    comment on function public.is_image_operator() is
      'Imagefill: may the caller use the review panel? Replace it to use your own roles table.';
  end if;
end
$$;
revoke execute on function public.is_image_operator() from public, anon;
grant execute on function public.is_image_operator() to authenticated, service_role;

-- Called first by every review RPC. A caller without a JWT is a direct database session
-- (SQL editor, psql, a migration): its database role has already been checked by the GRANTs.
create or replace function imagefill.assert_image_operator()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if auth.role() is null or auth.role() = 'service_role' then
    return;
  end if;
  if not coalesce(public.is_image_operator(), false) then
    raise exception 'Acesso negado: sua conta não pode revisar imagens de produtos.'
      using errcode = '42501',
            hint = 'Peça a um administrador para incluir você entre os operadores (função public.is_image_operator).';
  end if;
end
$$;
revoke all on function imagefill.assert_image_operator() from public;

drop policy if exists "Operators read image jobs" on public.image_jobs;
create policy "Operators read image jobs" on public.image_jobs
  for select to authenticated using ((select public.is_image_operator()));
drop policy if exists "Operators read image job events" on public.image_job_events;
create policy "Operators read image job events" on public.image_job_events
  for select to authenticated using ((select public.is_image_operator()));
drop policy if exists "Operators read rejected candidates" on public.image_rejected_candidates;
create policy "Operators read rejected candidates" on public.image_rejected_candidates
  for select to authenticated using ((select public.is_image_operator()));

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000103', 'imagefill_authorization', '0bd82374a4832d2f2161de62b775ffa605e8a0abbdc59c9d5c026ac938c8d0ef')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
