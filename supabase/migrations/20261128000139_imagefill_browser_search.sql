-- Imagefill: Stage 4, the manual headless-browser search. Started only by a person (the panel's
-- "Buscar no navegador" or `imagefill browse ID`); the automatic pipeline never queues it.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- The `browser` job is run by `imagefill browse` (or a worker started with browser jobs enabled):
-- claim_image_jobs only hands it to a worker that asks for that kind. It stores what it finds as
-- candidates with source = 'browser' and leaves the product in needs_review: never an approval.

create or replace function public.request_browser_search(p_product_id uuid)
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
  -- The job ends in needs_review: on a product that has its picture it would hide it from the catalogue.
  if v_product.image_status = 'ok' then
    raise exception 'O produto % já tem imagem aprovada; a busca no navegador é para produtos sem imagem.', p_product_id
      using errcode = '22023', hint = 'Para trocar a imagem, cole a URL da nova no painel.';
  end if;

  select a.job_id, a.created into v_job_id, v_created
    from imagefill.add_active_job(p_product_id, 'browser',
           jsonb_build_object('requested_by', auth.uid(), 'gtin', v_product.gtin)) a;
  if not v_created then
    return jsonb_build_object('enqueued', false, 'product_id', p_product_id, 'job_id', v_job_id,
                              'reason', 'Já existe uma busca no navegador pendente para este produto.');
  end if;

  insert into public.image_job_events (job_id, product_id, stage, outcome, detail)
  values (v_job_id, p_product_id, 'review', 'browser_requested', jsonb_build_object('by', auth.uid()));
  return jsonb_build_object('enqueued', true, 'product_id', p_product_id, 'job_id', v_job_id);
end
$$;

revoke all on function public.request_browser_search(uuid) from public, anon;
grant execute on function public.request_browser_search(uuid) to authenticated;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000139', 'imagefill_browser_search', 'c07aff058a21ab750905ea641ccb73daa3046708ce051ee5b0a69090ac16461d')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
