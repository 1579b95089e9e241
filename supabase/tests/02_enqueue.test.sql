-- Enqueue rules: triggers, idempotency, the provenance CHECK.
begin;
select plan(18);

insert into public.products (id, name, ean) values
  ('00000000-0000-0000-0000-000000000001', 'Guaraná 2L', '7894900011517'),
  ('00000000-0000-0000-0000-000000000002', 'Sem EAN válido', '7894900011518'),
  ('00000000-0000-0000-0000-000000000003', 'Sem EAN', null);

select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000001'),
          1, 'insert of a product without image and a valid GTIN enqueues one job');
select is((select payload ->> 'gtin' from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000001'),
          '7894900011517', 'the job remembers the GTIN it was enqueued for');
select is((select count(*)::int from public.image_jobs where product_id in
            ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000003')),
          0, 'invalid or missing EAN: no job');
select is((select ean from public.products where id = '00000000-0000-0000-0000-000000000002'),
          '7894900011518', 'the EAN as the user typed it is kept');

update public.products set name = 'Guaraná 2 L' where id = '00000000-0000-0000-0000-000000000001';
select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000001'),
          1, 'an update while a job is active does not enqueue a second one');

select lives_ok($$ insert into public.image_jobs (product_id, kind)
                   values ('00000000-0000-0000-0000-000000000001', 'enrich')
                   on conflict (product_id, kind) where status in ('queued', 'running') do nothing $$,
                'enqueueing again is a no-op');
select throws_ok($$ insert into public.image_jobs (product_id, kind)
                    values ('00000000-0000-0000-0000-000000000001', 'enrich') $$,
                 '23505', null, 'the unique partial index forbids two active jobs per product and kind');

-- Fixing an invalid EAN enqueues.
update public.products set ean = '789-4900-01151-7' where id = '00000000-0000-0000-0000-000000000002';
select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000002'),
          1, 'a corrected EAN enqueues');

-- The CHECK: no ok without provenance.
select throws_ok($$ update public.products set image_status = 'ok' where id = '00000000-0000-0000-0000-000000000003' $$,
                 '23514', null, 'ok without image_url is impossible');
-- Imagefill's own writes (automation) must bring the provenance themselves ...
select imagefill.as_automation(true);
select throws_ok($$ update public.products set image_status = 'ok', image_url = 'https://x/y.jpg'
                    where id = '00000000-0000-0000-0000-000000000003' $$,
                 '23514', null, 'ok without source/confidence/updated_at is impossible');
select throws_ok($$ update public.products set image_url = 'https://x/y.jpg', image_source = 'manual'
                    where id = '00000000-0000-0000-0000-000000000003' $$,
                 '23514', null, 'a stored image without confidence is impossible');
select imagefill.as_automation(false);
-- ... while a picture a person writes is the person's: completed as ok, manual, fully trusted.
update public.products set image_url = 'https://x/y.jpg' where id = '00000000-0000-0000-0000-000000000003';
select is((select format('%s/%s/%s', image_status, image_source, image_confidence) from public.products
            where id = '00000000-0000-0000-0000-000000000003' and image_updated_at is not null),
          'ok/manual/1.000', 'a person''s picture is ok, manual, with confidence 1');
select throws_ok($$ update public.products set image_confidence = 1.5 where id = '00000000-0000-0000-0000-000000000003' $$,
                 '23514', null, 'confidence must be within 0..1');

-- An ok product is never re-enqueued automatically.
insert into public.products (id, name, ean, image_url, image_status, image_source, image_confidence, image_updated_at)
values ('00000000-0000-0000-0000-000000000004', 'Com imagem', '22007377', 'https://x/a.jpg', 'ok', 'manual', 1, now());
select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000004'),
          0, 'an ok product is not enqueued on insert');
update public.products set ean = '0737628064502', name = 'Outro nome' where id = '00000000-0000-0000-0000-000000000004';
select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000004'),
          0, 'nor when its EAN or name change');
select is((select image_status::text from public.products where id = '00000000-0000-0000-0000-000000000004'),
          'ok', 'and it stays ok');

-- A person's changes to a product in error enqueue again; automation's do not.
insert into public.products (id, name, ean, image_status) values
  ('00000000-0000-0000-0000-000000000005', 'Erro', '5601077161035', 'error');
update public.image_jobs set status = 'failed', finished_at = now()
 where product_id = '00000000-0000-0000-0000-000000000005';
update public.products set image_status = 'missing' where id = '00000000-0000-0000-0000-000000000005';
select is((select count(*)::int from public.image_jobs where product_id = '00000000-0000-0000-0000-000000000005'),
          2, 'setting an errored product back to missing enqueues a new job');

-- One NOTIFY per statement is covered by pytest (LISTEN needs a second session); here: a bulk
-- insert produces one job per product.
insert into public.products (name, ean)
select 'Lote ' || g, null from generate_series(1, 50) g;
select is((select count(*)::int from public.products where name like 'Lote %'), 50, 'bulk insert without EANs works');

select * from finish();
rollback;
