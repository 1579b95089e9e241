-- Imagefill: which of the app's tables and columns are the catalogue, recorded by the install.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- The mapping given at the first install (`--table`, `--ean-column`, `--image-url-column`, ...)
-- is stored here, so `imagefill migrate` needs no options afterwards. A later rendering for
-- another mapping is refused: the triggers, functions and columns already installed belong to
-- the first one, and a second mapping would install a second, half-working copy beside them.

create table if not exists imagefill.catalogue_mapping (
  -- One row: one catalogue per database.
  singleton boolean primary key default true check (singleton),
  -- The fields of worker.schema.CatalogueTable: schema, table, id_column, id_type, name_column,
  -- brand_column, ean_column, image_url_column.
  mapping jsonb not null,
  recorded_at timestamptz not null default now()
);
revoke all on imagefill.catalogue_mapping from public;
grant select on imagefill.catalogue_mapping to service_role;

do $$
declare
  v_rendered jsonb := '{"brand_column": "brand", "ean_column": "ean", "id_column": "id", "id_type": "uuid", "image_url_column": "image_url", "name_column": "name", "schema": "public", "table": "products"}'::jsonb;
  v_stored jsonb;
  v_installed regclass;
begin
  select m.mapping into v_stored from imagefill.catalogue_mapping m;
  if v_stored is not null and v_stored <> v_rendered then
    raise exception 'O Imagefill já está instalado neste banco para outro catálogo: gravado %, pedido %.',
      v_stored, v_rendered
      using errcode = '22023',
            hint = 'Use as mesmas opções da primeira instalação (imagefill migrate sem opções as lê de imagefill.catalogue_mapping).';
  end if;
  if v_stored is null then
    -- Installed before the mapping was recorded: the enqueue trigger says which table it was.
    select t.tgrelid::regclass into v_installed
      from pg_trigger t
     where t.tgname = 'imagefill_enqueue_on_insert'
       and t.tgrelid is distinct from to_regclass('public.products')
     limit 1;
    if v_installed is not null then
      raise exception 'O Imagefill já está instalado neste banco na tabela %, não em public.products.', v_installed
        using errcode = '22023',
              hint = 'Rode de novo com as opções do mapeamento dessa tabela (--table, --name-column, --ean-column...).';
    end if;
    insert into imagefill.catalogue_mapping (mapping) values (v_rendered);
  end if;
end
$$;

-- Imagefill records what it installed, whichever tool applied this file.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
values ('20261128000156', 'imagefill_catalogue_mapping', '0ee7096d852ed992acfa43f8f8cbb72ccd07373f4e4d4cc37d97aee25d8723cc')
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
