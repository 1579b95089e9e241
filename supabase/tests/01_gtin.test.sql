-- GTIN normalization: check digits, lengths, separators, letters.
begin;
select plan(16);

select is(public.normalize_gtin('7894900011517'), '7894900011517', 'valid EAN-13 (Brazil, 789)');
select is(public.normalize_gtin('7894900011518'), null, 'EAN-13 with a bad check digit is NULL');
select is(public.normalize_gtin('737628064502'), '0737628064502', 'UPC-A is padded to 13 digits');
select is(public.normalize_gtin('737628064503'), null, 'UPC-A with a bad check digit is NULL');
select is(public.normalize_gtin('22007377'), '22007377', 'GTIN-8 is kept as is');
select is(public.normalize_gtin('22007378'), null, 'GTIN-8 with a bad check digit is NULL');
select is(public.normalize_gtin('17894900011514'), '17894900011514', 'GTIN-14 with an indicator digit');
select is(public.normalize_gtin('07894900011517'), '7894900011517', 'GTIN-14 with a leading 0 becomes GTIN-13');
select is(public.normalize_gtin(' 789 4900 01151-7 '), '7894900011517', 'spaces and dashes are ignored');
select is(public.normalize_gtin('789.4900.011517'), '7894900011517', 'dots are ignored');
select is(public.normalize_gtin('78949OOO11517'), null, 'letters make it invalid');
select is(public.normalize_gtin('123'), null, 'too short');
select is(public.normalize_gtin('123456789012345'), null, 'too long');
select is(public.normalize_gtin('0000000000000'), null, 'all zeros is not a product');
select is(public.normalize_gtin(''), null, 'empty string');
select is(public.normalize_gtin(null), null, 'NULL stays NULL');

select * from finish();
rollback;
