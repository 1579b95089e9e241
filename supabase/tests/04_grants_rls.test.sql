-- Grants and RLS: anon can do nothing; authenticated reads and calls the review RPCs;
-- only service_role reaches the worker functions.
begin;
select plan(22);

insert into public.products (id, name, ean) values ('20000000-0000-0000-0000-000000000001', 'Leite', '7891000100103');

-- anon: permission denied on every review RPC and every Imagefill table.
set local role anon;
select throws_ok($$ select public.enqueue_image_backfill(10) $$, '42501', null, 'anon: enqueue_image_backfill denied');
select throws_ok($$ select public.image_backfill_progress(null) $$, '42501', null, 'anon: image_backfill_progress denied');
select throws_ok($$ select * from public.image_review_queue(10, 0) $$, '42501', null, 'anon: image_review_queue denied');
select throws_ok($$ select public.approve_product_image('20000000-0000-0000-0000-000000000001', 'https://a.b/c.jpg') $$,
                 '42501', null, 'anon: approve_product_image denied');
select throws_ok($$ select public.reject_product_image('20000000-0000-0000-0000-000000000001', 'feia') $$,
                 '42501', null, 'anon: reject_product_image denied');
select throws_ok($$ select public.enqueue_product_image('20000000-0000-0000-0000-000000000001') $$,
                 '42501', null, 'anon: enqueue_product_image denied');
select throws_ok($$ select * from public.image_jobs $$, '42501', null, 'anon: image_jobs unreadable');
select throws_ok($$ select * from public.image_job_events $$, '42501', null, 'anon: image_job_events unreadable');
select throws_ok($$ select * from imagefill.claim_image_jobs('x', 1) $$, '42501', null, 'anon: worker functions denied');
reset role;

-- authenticated without operator rights (no user id in the JWT).
set local role authenticated;
set local request.jwt.claims = '{"role": "authenticated"}';
select throws_ok($$ select public.enqueue_image_backfill(10) $$, '42501', 'Acesso negado: sua conta não pode revisar imagens de produtos.',
                 'authenticated but not an operator: refused with a clear message');
select is((select count(*)::int from public.image_jobs), 0, 'RLS: non-operators see no jobs');
reset role;

-- authenticated operator (any signed-in user by default).
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000001", "role": "authenticated"}';
select lives_ok($$ select public.image_backfill_progress(null) $$, 'authenticated: image_backfill_progress allowed');
select lives_ok($$ select * from public.image_review_queue(10, 0) $$, 'authenticated: image_review_queue allowed');
select lives_ok($$ select public.enqueue_product_image('20000000-0000-0000-0000-000000000001') $$,
                'authenticated: enqueue_product_image allowed');
select is((select count(*)::int from public.image_jobs), 1, 'RLS: operators read jobs');
select throws_ok($$ update public.image_jobs set status = 'done' $$, '42501', null, 'authenticated cannot write jobs directly');
select throws_ok($$ insert into public.image_job_events (stage, outcome) values ('x', 'y') $$, '42501', null,
                 'authenticated cannot write events directly');
select throws_ok($$ select * from imagefill.claim_image_jobs('x', 1) $$, '42501', null,
                 'authenticated: worker functions denied');
reset role;

-- service_role reaches the worker functions; events are append-only for everyone.
set local role service_role;
select is((select count(*)::int from imagefill.claim_image_jobs('w', 5)), 1, 'service_role claims');
select throws_ok($$ update public.image_job_events set outcome = 'x' $$, null, null, 'events cannot be updated');
select throws_ok($$ delete from public.image_job_events $$, null, null, 'events cannot be deleted');
reset role;

select ok(has_function_privilege('anon', 'public.normalize_gtin(text)', 'execute'),
          'normalize_gtin is a harmless pure function open to all');

select * from finish();
rollback;
