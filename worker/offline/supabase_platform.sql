-- Supabase platform stand-in: LOCAL ONLY, never pushed to a Supabase project.
set client_min_messages = warning;
--
-- Recreates the parts of a Supabase Cloud database that Imagefill's migrations rely on,
-- following Supabase's own definitions (supabase/postgres init scripts, supabase/auth and
-- supabase/storage migrations), so that a migration that would fail on Cloud fails here first:
--   * the cluster superuser is `supabase_admin` and owns every platform object;
--   * `postgres` (the role migrations run as) is NOSUPERUSER CREATEDB CREATEROLE BYPASSRLS and a
--     member of the three API roles;
--   * nobody but `supabase_admin` may create objects in `auth`, `storage` or `realtime` (Cloud
--     enforces this since 2025);
--   * new `public` tables are NOT granted to the API roles automatically (Cloud since 2026-10-30).
-- Run as `supabase_admin`, once per database (roles are cluster-wide and created only if absent).

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres login nosuperuser createdb createrole bypassrls;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

-- The database is created by the cluster superuser; `postgres` gets what Cloud gives it.
do $$
begin
  execute format('grant create, connect, temporary on database %I to postgres', current_database());
end
$$;

-- public: owned by pg_database_owner on PG15; Supabase gives postgres and the API roles usage,
-- and postgres the right to create. No default privileges for the API roles (see header).
grant usage, create on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;

create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;

-- auth ---------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to postgres, anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key,
  email text,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
grant select on auth.users to postgres, service_role;

-- As in supabase/auth's migrations: the singular `request.jwt.claim.*` settings first (old
-- PostgREST), then the `request.jwt.claims` JSON that current PostgREST sets.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select
    coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to postgres, anon, authenticated, service_role;

-- storage (columns as in supabase/storage's current migrations) ----------------------------
create schema if not exists storage;
grant usage on schema storage to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'storage' and t.typname = 'buckettype') then
    create type storage.buckettype as enum ('STANDARD', 'ANALYTICS', 'VECTOR');
  end if;
end
$$;

create table if not exists storage.buckets (
  id text primary key,
  name text not null,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  owner_id text,
  type storage.buckettype not null default 'STANDARD'
);
create unique index if not exists bname on storage.buckets (name);

create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  version text,
  owner_id text,
  user_metadata jsonb,
  level integer
);
create unique index if not exists bucketid_objname on storage.objects (bucket_id, name);
alter table storage.objects enable row level security;
alter table storage.buckets enable row level security;

grant all on storage.buckets, storage.objects to postgres, service_role;
grant select on storage.buckets, storage.objects to anon, authenticated;

-- realtime -------------------------------------------------------------------------------------
create schema if not exists realtime;
grant usage on schema realtime to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
alter publication supabase_realtime owner to postgres;

-- Broadcast from the database, as supabase/realtime's tenant migrations leave it
-- (priv/repo/tenant_schema/realtime/functions/send.sql, topic.sql; the messages table of
-- tenant_db_dump_15.sql, partitioned by day: Realtime creates the daily partitions, the stand-in
-- has one default partition). Owned by `supabase_realtime_admin`; `postgres` may write policies
-- on realtime.messages (Cloud lets it through supautils' policy_grants; here by membership).
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
end
$$;
grant supabase_realtime_admin to postgres;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone default now() not null,
  inserted_at timestamp without time zone default now() not null,
  id uuid default gen_random_uuid() not null,
  binary_payload bytea,
  constraint messages_pkey primary key (id, inserted_at)
) partition by range (inserted_at);
create table if not exists realtime.messages_default partition of realtime.messages default;
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages_default owner to supabase_realtime_admin;
alter table realtime.messages enable row level security;
grant all on realtime.messages to postgres;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

create or replace function realtime.topic()
  returns text
  language sql
  stable
  as $function$
select nullif(current_setting('realtime.topic', true), '')::text;
$function$;
alter function realtime.topic() owner to supabase_realtime_admin;

create or replace function realtime.send(
  payload jsonb,
  event   text,
  topic   text,
  private boolean default true
)
  returns void
  language plpgsql
  as $function$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;
    execute format('SET LOCAL realtime.topic TO %L', topic);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', SQLERRM;
  end;
end;
$function$;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean)
  to postgres, anon, authenticated, service_role;

-- The real service reads new broadcast rows from logical replication, i.e. once committed and in
-- commit order. The Realtime stand-in (worker/offline/realtime_server.py) gets the same from a
-- NOTIFY, which Postgres also delivers at commit (a rolled-back join probe sends nothing).
create or replace function realtime.standin_notify_message()
  returns trigger
  language plpgsql
  as $function$
begin
  perform pg_notify('realtime_standin_messages', new.id::text);
  return null;
end;
$function$;
alter function realtime.standin_notify_message() owner to supabase_realtime_admin;
create or replace trigger standin_notify_message after insert on realtime.messages
  for each row when (new.extension = 'broadcast')
  execute function realtime.standin_notify_message();

-- Lock the platform schemas: only the superuser may create objects in them.
revoke create on schema auth, storage, realtime, extensions from public, postgres;

-- As on Supabase: extensions are on the migration role's search_path.
alter role postgres set search_path = "$user", public, extensions;
