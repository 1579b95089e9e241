-- The review RPCs: what each returns, input validation, remembered rejections.
begin;
select plan(25);

insert into public.products (id, name, brand, ean) values
  ('30000000-0000-0000-0000-000000000001', 'Bebida de soja', 'Gerblé', '8424259826051'),
  ('30000000-0000-0000-0000-000000000002', 'Molho', 'Pouce', '3596710352418'),
  ('30000000-0000-0000-0000-000000000003', 'EAN ruim', null, '123');

-- Simulate the worker having sent product 1 to review with two candidates.
set local role service_role;
select job_id as j1 from imagefill.claim_image_jobs('w', 1) \gset
select is((imagefill.complete_image_job(:'j1', 'w', 'needs_review', null, null, null,
  '[{"url": "https://img.example/a.jpg", "source": "search_api", "confidence": 0.55, "reason": "marca diferente", "query": "gerble soja 1l"},
    {"url": "https://img.example/b.jpg", "source": "openfoodfacts", "confidence": 0.7, "reason": "foto antiga"}]')).status::text, 'done', 'the worker sends product 1 to review');
reset role;

set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000002", "role": "authenticated"}';

-- Progress
select is((public.image_backfill_progress(null) ->> 'needs_review')::int, 1, 'progress: one product in review');
select is((public.image_backfill_progress(null) ->> 'total')::int, 3, 'progress: whole catalogue total');
select throws_ok($$ select public.image_backfill_progress('00000000-0000-0000-0000-00000000dead') $$, 'P0002', null,
                 'progress of an unknown batch is a clear error');

-- Backfill
select throws_ok($$ select public.enqueue_image_backfill(0) $$, '22023', 'p_limit deve estar entre 1 e 10000 (recebido: 0)',
                 'backfill validates its limit');
create temp table b1 on commit drop as select public.enqueue_image_backfill(50) as r;
select is((select (r ->> 'enqueued')::int from b1), 1, 'backfill adopts the queued job of product 2 (product 3 has no valid EAN)');
select ok((select r ->> 'batch_id' is not null from b1), 'and returns a batch id');
select is((public.enqueue_image_backfill(50) ->> 'enqueued')::int, 0, 'backfill is idempotent');
select is((public.image_backfill_progress((select (r ->> 'batch_id')::uuid from b1)) ->> 'queued')::int, 1,
          'batch progress counts its queued job');

-- Review queue
select is((select count(*)::int from public.image_review_queue(10, 0)), 1, 'review queue lists products in needs_review');
select is((select jsonb_array_length(candidates) from public.image_review_queue(10, 0)), 2, 'with their candidates');
select is((select candidates -> 0 ->> 'url' from public.image_review_queue(10, 0)), 'https://img.example/b.jpg',
          'best candidate first');
select throws_ok($$ select * from public.image_review_queue(500, 0) $$, '22023', null, 'queue validates its limit');

-- Reject: candidates are remembered and never proposed again.
select throws_ok($$ select public.reject_product_image('30000000-0000-0000-0000-000000000001', '  ') $$, '22023', null,
                 'a rejection needs a reason');
select is((public.reject_product_image('30000000-0000-0000-0000-000000000001', 'Não é o produto') ->> 'rejected')::int, 2,
          'reject remembers both candidates');
select is((select jsonb_array_length(candidates) from public.image_review_queue(10, 0)), 0, 'rejected candidates disappear');
select is((select reviewed from (select image_reviewed_by::text as reviewed from public.products
            where id = '30000000-0000-0000-0000-000000000001') x), '99999999-0000-0000-0000-000000000002',
          'who reviewed is recorded');

-- Approve: records the reviewer and enqueues the download job.
select throws_ok($$ select public.approve_product_image('30000000-0000-0000-0000-000000000001', 'javascript:alert(1)') $$,
                 '22023', null, 'approve refuses a non-http URL');
select throws_ok($$ select public.approve_product_image('30000000-0000-0000-0000-0000000000ff', 'https://img.example/c.jpg') $$,
                 'P0002', null, 'approve of an unknown product is a clear error');
create temp table a1 on commit drop as
  select public.approve_product_image('30000000-0000-0000-0000-000000000001', 'https://img.example/a.jpg') as r;
select is((select r ->> 'source' from a1), 'search_api', 'approving a candidate keeps its source');
select is((select kind::text || '/' || status::text from public.image_jobs where id = (select (r ->> 'job_id')::uuid from a1)),
          'approve/queued', 'an approve job is queued');
select is((select count(*)::int from public.image_rejected_candidates
            where product_id = '30000000-0000-0000-0000-000000000001' and url = 'https://img.example/a.jpg'),
          0, 'approving a rejected URL lifts its rejection');

-- Manual re-enqueue
select throws_ok($$ select public.enqueue_product_image('30000000-0000-0000-0000-000000000003') $$, '22023', null,
                 'enqueue refuses a product without a valid EAN');
select is((public.enqueue_product_image('30000000-0000-0000-0000-000000000002') ->> 'enqueued')::boolean, false,
          'enqueue is idempotent while a job is active');
reset role;
select is((public.enqueue_product_image('30000000-0000-0000-0000-000000000002') ->> 'reason'),
          'Já existe um job ativo para este produto.', 'plain SQL (no JWT) may re-enqueue too');

select * from finish();
rollback;
