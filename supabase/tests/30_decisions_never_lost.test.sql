-- Decisions that must never be lost: a second approval while the first runs, an approval whose
-- worker keeps dying, final error texts, pasted URLs naming internal hosts, hidden lease columns.
begin;
select plan(32);

insert into public.products (id, name, ean) values
  ('50000000-0000-0000-0000-000000000001', 'Segunda aprovação', '4000539770708'),
  ('50000000-0000-0000-0000-000000000002', 'Worker sempre cai', '22007377'),
  ('50000000-0000-0000-0000-000000000003', 'Falha final', '5601077161035'),
  ('50000000-0000-0000-0000-000000000004', 'URLs coladas', '8424259826051');
-- Only the approvals below matter here: no enrichment job in the way; no private host allowed.
delete from public.image_jobs;
delete from imagefill.fetch_allow_hosts;

set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select (public.approve_product_image('50000000-0000-0000-0000-000000000001', 'https://img.example/a.jpg')) ->> 'job_id' as ja \gset
reset role;

-- The worker claims approval A and starts working on it.
set local role service_role;
create temp table ca on commit drop as select * from imagefill.claim_image_jobs('w1', 1, 60, '{approve}');
select is((select payload ->> 'url' from ca), 'https://img.example/a.jpg', 'the worker runs decision A');
reset role;

-- While A runs, the person approves B instead.
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select is((public.approve_product_image('50000000-0000-0000-0000-000000000001', 'https://img.example/b.jpg')) ->> 'job_id',
          :'ja', 'the second approval answers with the same job');
reset role;

-- A's result arrives: it must not win.
set local role service_role;
select is((imagefill.complete_image_job(:'ja', 'w1', 'ok', 'https://cdn/a.jpg?v=aaa', 'manual', 1,
          p_payload => (select payload from ca))).status::text, 'queued',
          'a result for an outdated decision is not stored: the job runs again');
select is((select image_status::text from public.products where id = '50000000-0000-0000-0000-000000000001'),
          'fetching', 'the product waits for the newest decision');
select is((select image_url from public.products where id = '50000000-0000-0000-0000-000000000001'),
          null, 'picture A never reached the product');
select is((select attempts from public.image_jobs where id = :'ja'), 0, 'the superseded run does not count as an attempt');
select ok(exists (select 1 from public.image_job_events where job_id = :'ja' and outcome = 'superseded'),
          'the supersession is in the audit trail');

create temp table cb on commit drop as select * from imagefill.claim_image_jobs('w2', 1, 60, '{approve}');
select is((select payload ->> 'url' from cb), 'https://img.example/b.jpg', 'the next run gets decision B');
select is((imagefill.complete_image_job(:'ja', 'w2', 'ok', 'https://cdn/b.jpg?v=bbb', 'manual', 1,
          p_payload => (select payload from cb))).status::text, 'done', 'decision B is stored');
select is((select image_url from public.products where id = '50000000-0000-0000-0000-000000000001'),
          'https://cdn/b.jpg?v=bbb', 'the latest decision of a person wins');

-- The same race, but the outdated run fails permanently (picture A unusable): B still runs.
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select (public.approve_product_image('50000000-0000-0000-0000-000000000003', 'https://img.example/c.jpg')) ->> 'job_id' as jc \gset
reset role;
set local role service_role;
create temp table cc on commit drop as select * from imagefill.claim_image_jobs('w1', 1, 60, '{approve}');
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select lives_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000003', 'https://img.example/d.jpg') $$,
                'a second approval while the first runs');
reset role;
set local role service_role;
select is((imagefill.fail_image_job(:'jc', 'w1', 'a imagem aprovada não pôde ser usada', false,
          p_payload => (select payload from cc))).status::text, 'queued',
          'the failure of an outdated decision does not fail the newest one');
select is((select image_status::text from public.products where id = '50000000-0000-0000-0000-000000000003'),
          'fetching', 'the product is not sent back to review by the outdated failure');
-- Without the payload (older workers) the call behaves as before.
create temp table cd on commit drop as select * from imagefill.claim_image_jobs('w1', 1, 60, '{approve}');
select is((select payload ->> 'url' from cd), 'https://img.example/d.jpg', 'decision D runs next');

-- The last attempt of a retryable failure: the text does not promise another try.
update public.image_jobs set attempts = max_attempts where id = :'jc';
select is((imagefill.fail_image_job(:'jc', 'w1', 'falha ao enviar para o Supabase Storage: ConnectError', true,
          p_payload => (select payload from cd))).status::text, 'failed', 'no attempts left: failed');
select matches((select last_error from public.image_jobs where id = :'jc'), 'sem novas tentativas: 5 de 5 usadas',
               'the final error says no retry will come');
select is((select image_status::text from public.products where id = '50000000-0000-0000-0000-000000000003'),
          'needs_review', 'a failed approval goes back to the reviewer');
reset role;

-- An approval whose worker dies on every attempt: back to review with the reason, never stuck fetching.
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select (public.approve_product_image('50000000-0000-0000-0000-000000000002', 'https://img.example/e.jpg')) ->> 'job_id' as je \gset
reset role;
update public.image_jobs set status = 'running', locked_by = 'dead', locked_until = now() - interval '1 minute',
       attempts = max_attempts where id = :'je';
set local role service_role;
select is(imagefill.fail_exhausted_leases(), 1, 'the exhausted approval is failed');
select is((select image_status::text from public.products where id = '50000000-0000-0000-0000-000000000002'),
          'needs_review', 'its product is back in the review queue');
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select matches((select last_error from public.image_review_queue(50, 0)
                 where product_id = '50000000-0000-0000-0000-000000000002'),
               'Aprove de novo', 'the reviewer reads why, and what to do');

-- Pasted URLs naming internal hosts are refused; a public one is accepted.
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://127.0.0.1/x.jpg') $$,
                 '22023', 'URL de imagem recusada: o endereço 127.0.0.1 é privado, local ou reservado.', 'loopback refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://2130706433/x.jpg') $$,
                 '22023', null, 'decimal loopback refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://127.1/x.jpg') $$,
                 '22023', null, 'short loopback refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://[::1]:8080/x.jpg') $$,
                 '22023', null, 'IPv6 loopback refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://[::ffff:127.0.0.1]/x.jpg') $$,
                 '22023', null, 'IPv4-mapped loopback refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://169.254.169.254/latest/meta-data/') $$,
                 '22023', null, 'cloud metadata address refused');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'https://user@192.168.0.10:8443/x.jpg') $$,
                 '22023', null, 'private range refused, also behind user info and a port');
select throws_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'https://user:pw@img.example/x.jpg') $$,
                 '22023', 'URL de imagem recusada: URL com usuário/senha não é aceita.', 'credentials in a URL refused');
select lives_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'https://img.example/ok.jpg') $$,
                'a public name is accepted (the worker checks what it resolves to)');
reset role;
insert into imagefill.fetch_allow_hosts (host) values ('10.1.2.3');
set local role authenticated;
set local request.jwt.claims = '{"sub": "99999999-0000-0000-0000-000000000009", "role": "authenticated"}';
select lives_ok($$ select public.approve_product_image('50000000-0000-0000-0000-000000000004', 'http://10.1.2.3/x.jpg') $$,
                'a private host the operator allowed (imagefill.fetch_allow_hosts) is accepted');

-- Operators read jobs, but not which host and process holds them.
select throws_ok($$ select locked_by from public.image_jobs $$, '42501', null, 'locked_by is hidden from the panel');
select lives_ok($$ select id, status, last_error, attempts from public.image_jobs $$, 'the panel reads what it shows');
reset role;

select * from finish();
rollback;
