-- Job kinds, hand-back, stale results after an EAN change, human choices never overwritten.
begin;
select plan(15);

insert into public.products (id, name, ean) values
  ('40000000-0000-0000-0000-000000000001', 'Um', '4000539770708'),
  ('40000000-0000-0000-0000-000000000002', 'Dois', '22007377'),
  ('40000000-0000-0000-0000-000000000003', 'Três', '5601077161035');

-- An approval job for product 3 next to its enrichment job.
insert into public.image_jobs (product_id, kind, payload)
values ('40000000-0000-0000-0000-000000000003', 'approve', '{"url": "https://img.example/p.jpg", "source": "manual"}');

set local role service_role;
select is((select count(*)::int from imagefill.claim_image_jobs('w', 10, 60, '{approve}')), 1,
          'a worker claims only the kinds it can run');
select is((select count(*)::int from public.image_jobs where kind = 'enrich' and status = 'queued'), 3,
          'enrichment jobs stay queued for a worker that runs them');

-- A failed approval goes back to the reviewer.
select is((imagefill.fail_image_job((select id from public.image_jobs where kind = 'approve'), 'w',
          'a imagem aprovada não pôde ser usada', false)).status::text, 'failed', 'permanent failure');
select is((select image_status::text from public.products where id = '40000000-0000-0000-0000-000000000003'),
          'needs_review', 'the product returns to review');

-- Hand-back on shutdown.
create temp table c on commit drop as select * from imagefill.claim_image_jobs('w', 3, 60, '{enrich}');
select is((imagefill.release_image_job((select job_id from c where product_id = '40000000-0000-0000-0000-000000000001'),
          'w')).status::text, 'queued', 'a released job is queued again');
select is((select j.attempts from public.image_jobs j join c on c.job_id = j.id
            where c.product_id = '40000000-0000-0000-0000-000000000001'), 0, 'and the attempt does not count');
select is((select image_status::text from public.products where id = '40000000-0000-0000-0000-000000000001'),
          'missing', 'its product is missing again, not fetching');

-- The EAN changes while product 2 is being processed: the result is stale.
reset role;
update public.products set ean = '0737628064502' where id = '40000000-0000-0000-0000-000000000002';
set local role service_role;
select is((imagefill.complete_image_job((select job_id from c where product_id = '40000000-0000-0000-0000-000000000002'),
          'w', 'needs_review', p_candidates => '[{"url": "https://old/x.jpg", "source": "openfoodfacts"}]')).result ->> 'outcome',
          'stale', 'a result for the old EAN is discarded');
select is((select image_candidate_urls from public.products where id = '40000000-0000-0000-0000-000000000002'),
          '[]'::jsonb, 'and nothing about the old EAN reaches the product');
select is((select payload ->> 'gtin' from public.image_jobs
            where product_id = '40000000-0000-0000-0000-000000000002' and status = 'queued'),
          '0737628064502', 'a fresh job for the new EAN is queued');

-- A person approves product 3's image while an enrichment job for it runs: automation keeps out.
reset role;
update public.products set image_status = 'ok', image_url = 'https://cdn/p.jpg', image_source = 'manual',
       image_confidence = 1, image_updated_at = now(), image_reviewed_by = '99999999-0000-0000-0000-000000000001'
 where id = '40000000-0000-0000-0000-000000000003';
set local role service_role;
select is((imagefill.complete_image_job((select job_id from c where product_id = '40000000-0000-0000-0000-000000000003'),
          'w', 'ok', 'https://cdn/auto.jpg', 'openfoodfacts', 0.95)).result ->> 'outcome',
          'kept_human_choice', 'an enrichment result never overwrites a person''s approval');
select is((select image_url from public.products where id = '40000000-0000-0000-0000-000000000003'),
          'https://cdn/p.jpg', 'the approved image stays');

-- A job whose worker crashed on every attempt: failed once the last lease expires.
reset role;
update public.image_jobs set status = 'running', locked_by = 'dead', locked_until = now() - interval '1 minute',
       attempts = max_attempts
 where product_id = '40000000-0000-0000-0000-000000000001' and status = 'queued';
set local role service_role;
select is((select count(*)::int from imagefill.claim_image_jobs('w2', 10, 60, '{enrich}')
            where product_id = '40000000-0000-0000-0000-000000000001'), 0, 'an exhausted job is not reclaimed');
select is((imagefill.sweep_image_queue() ->> 'leases_failed')::int, 1, 'the periodic sweep fails it');
select is((select image_status::text from public.products where id = '40000000-0000-0000-0000-000000000001'),
          'error', 'it fails and the product shows error');

select * from finish();
rollback;
