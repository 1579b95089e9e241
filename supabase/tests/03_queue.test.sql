-- The job lifecycle: claim, lease expiry and reclaim, lost lease, completion, backoff, failure.
begin;
select plan(27);

insert into public.products (id, name, brand, ean) values
  ('10000000-0000-0000-0000-000000000001', 'Chocolate', 'Lindt', '4000539770708'),
  ('10000000-0000-0000-0000-000000000002', 'Arroz', 'Aldi', '22007377'),
  ('10000000-0000-0000-0000-000000000003', 'Porto', 'Calem', '5601077161035');

set local role service_role;

create temp table claim1 on commit drop as select * from imagefill.claim_image_jobs('w1', 2, 60);
select is((select count(*)::int from claim1), 2, 'claims no more than asked');
select is((select count(*)::int from public.image_jobs where status = 'running' and locked_by = 'w1'),
          2, 'claimed jobs are running under the claimer''s lease');
select is((select count(*)::int from public.products p join claim1 c on c.product_id = p.id::text
            where p.image_status = 'fetching'), 2, 'their products show fetching');
select is((select min(attempts) from claim1), 1, 'a claim counts an attempt');
select ok((select bool_and(product_name is not null and product_gtin is not null) from claim1),
          'the claim returns the product evidence in the same round trip');

create temp table claim2 on commit drop as select * from imagefill.claim_image_jobs('w2', 10, 60);
select is((select count(*)::int from claim2), 1, 'a second worker gets only the remaining job');
select is((select count(*)::int from claim2 join claim1 using (job_id)), 0, 'never one already claimed');
select is((select count(*)::int from imagefill.claim_image_jobs('w3', 10, 60)), 0, 'nothing left to claim');

-- Lease renewal returns only the jobs still held.
select is((select count(*)::int from imagefill.extend_image_job_leases('w1',
            (select array_agg(job_id) from claim1) || (select array_agg(job_id) from claim2), 60)),
          2, 'extending renews only the caller''s own leases');

-- Lease expiry and reclaim.
reset role;
update public.image_jobs set locked_until = now() - interval '1 second'
 where id = (select job_id from claim1 order by job_id limit 1);
set local role service_role;
create temp table reclaimed on commit drop as select * from imagefill.claim_image_jobs('w2', 10, 60);
select is((select count(*)::int from reclaimed), 1, 'an expired lease is reclaimed by another worker');
select is((select attempts from reclaimed), 2, 'the reclaim counts as a new attempt');

-- The worker that lost the lease cannot complete, fail or release.
select throws_ok(format($$ select imagefill.complete_image_job(%L, 'w1', 'needs_review') $$,
                        (select job_id from reclaimed)),
                 'IF001', null, 'a lost lease refuses completion');
select throws_ok(format($$ select imagefill.fail_image_job(%L, 'w1', 'boom') $$, (select job_id from reclaimed)),
                 'IF001', null, 'a lost lease refuses failing');
select throws_ok(format($$ select imagefill.release_image_job(%L, 'w1') $$, (select job_id from reclaimed)),
                 'IF001', null, 'a lost lease refuses releasing');

-- Completion writes the product and the job in one go.
select lives_ok(format($$ select imagefill.complete_image_job(%L, 'w2', 'ok',
                          'https://cdn.example/products/x/main.jpg?v=abc', 'openfoodfacts', 0.93,
                          '[{"url": "https://images.openfoodfacts.org/a.jpg", "source": "openfoodfacts", "confidence": 0.93}]',
                          '[{"stage": "openfoodfacts", "outcome": "candidate"}]') $$,
                        (select job_id from reclaimed)),
                'the lease holder completes');
select is((select image_status::text || '/' || image_source::text || '/' || image_confidence::text
             from public.products p join reclaimed r on r.product_id = p.id::text),
          'ok/openfoodfacts/0.930', 'the product has its image with provenance');
select ok((select image_updated_at is not null and jsonb_array_length(image_candidate_urls) = 1
             from public.products p join reclaimed r on r.product_id = p.id::text),
          'updated_at and the candidate audit are written');
select is((select status::text from public.image_jobs where id = (select job_id from reclaimed)), 'done', 'the job is done');
select is((select count(*)::int from public.image_job_events where job_id = (select job_id from reclaimed)),
          2, 'one event per stage plus the completion');
select throws_ok(format($$ select imagefill.complete_image_job(%L, 'w2', 'needs_review') $$, (select job_id from reclaimed)),
                 'IF001', null, 'a finished job cannot be completed twice');

-- Backoff, then failed.
create temp table held on commit drop as
  select job_id from claim1 where job_id <> (select job_id from reclaimed)
  union all select job_id from claim2;
select is((select status::text from imagefill.fail_image_job((select job_id from claim2), 'w2', 'OFF 503', true)),
          'queued', 'a retryable failure re-queues');
select ok((select run_after > now() + interval '20 seconds' from public.image_jobs where id = (select job_id from claim2)),
          'with a backoff delay');
select is((select count(*)::int from imagefill.claim_image_jobs('w3', 10, 60)), 0, 'not claimable before the backoff');
reset role;
update public.image_jobs set attempts = max_attempts - 1, run_after = now() where id = (select job_id from claim2);
set local role service_role;
select is((select count(*)::int from imagefill.claim_image_jobs('w3', 10, 60)), 1, 'due again after the backoff');
select is((select status::text from imagefill.fail_image_job((select job_id from claim2), 'w3', 'OFF 503 again', true)),
          'failed', 'out of attempts: failed');
select is((select image_status::text from public.products p
            join public.image_jobs j on j.product_id = p.id where j.id = (select job_id from claim2)),
          'error', 'and the product is in error');
select is((select last_error from public.image_jobs where id = (select job_id from claim2)),
          'OFF 503 again (sem novas tentativas: 5 de 5 usadas)', 'with the last error kept, saying no retry will come');

select * from finish();
rollback;
