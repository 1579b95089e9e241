-- Imagefill: live panel updates and worker wake-ups by Supabase Realtime Broadcast from the database.
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.
--
-- Statement-level triggers call `realtime.send(payload, event, topic, true)` (Supabase's
-- "Broadcast from the database"): one message per statement, never per row, on PRIVATE topics:
--   imagefill:progress  a counter of the panel changed (the tally got a non-zero delta)
--   imagefill:review    a product entered or left review
--   imagefill:jobs      jobs were queued (workers in WORKER_WAKEUP=realtime wake up)
-- The messages are "changed" pings: the panel answers one with one RPC, so nothing about a
-- product travels in them. Bursts are coalesced per topic (at most one message per 250 ms, see
-- `imagefill.broadcast`); the one a burst swallowed goes out with the next change or from the
-- worker's poll tick (`imagefill.flush_broadcasts`), so the last state is never left unsent.
-- Who may join: RLS on `realtime.messages`, `select` for `is_image_operator()` on the two panel
-- topics only. The jobs topic has no policy: only the service role (which bypasses RLS) joins it.
--
-- Only where Supabase Realtime exists: a plain Postgres (self-hosted without Realtime) has no
-- `realtime` schema. Without it this migration is NOT recorded: it stays pending (`imagefill
-- migrate` and `status` say why), creates nothing that could fail, and the panel keeps polling.
-- requires: to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null and to_regclass('realtime.messages') is not null
-- requires-why: este banco não tem o Supabase Realtime (schema `realtime`), então o painel continua atualizando por consulta periódica e o worker acorda por LISTEN/polling (normal em Postgres sem Supabase; com Realtime, rode `imagefill migrate` de novo)

-- The last message per topic, for coalescing. `pending`: a change was swallowed by the window.
create table if not exists imagefill.realtime_sent (
  topic text primary key,
  sent_at timestamptz not null,
  pending boolean not null default false
);
comment on table imagefill.realtime_sent is
  'Imagefill: when each Realtime topic was last sent to (at most one message per 250 ms).';
alter table imagefill.realtime_sent enable row level security;

-- Sends one "changed" ping on a topic unless one went out less than 250 ms ago (then the topic is
-- marked pending). SKIP LOCKED: a statement that finds the row locked leaves the send to the
-- transaction holding it (a drain's completions never queue up behind one another here).
-- A REPEATABLE READ or SERIALIZABLE caller whose snapshot predates the last send cannot lock the
-- row (serialization failure): a ping must never fail the caller's statement, so that one is sent
-- without coalescing (the subtransaction of the EXCEPTION block is per statement, not per row).
create or replace function imagefill.broadcast(p_topic text, p_event text, p_force boolean default false)
returns boolean
language plpgsql
security definer  -- realtime.send is SECURITY INVOKER: the insert runs as this function's owner
set search_path = ''
as $$
declare
  v_sent_at timestamptz;
  v_pending boolean;
begin
  begin
    select s.sent_at, s.pending into v_sent_at, v_pending
      from imagefill.realtime_sent s where s.topic = p_topic
       for update skip locked;
    if not found then
      insert into imagefill.realtime_sent (topic, sent_at) values (p_topic, clock_timestamp())
      on conflict (topic) do nothing;
      if not found then
        return false;  -- another transaction holds the row: it sends (or marks pending)
      end if;
    elsif not p_force and v_sent_at > clock_timestamp() - interval '250 milliseconds' then
      if not v_pending then
        update imagefill.realtime_sent set pending = true where topic = p_topic;
      end if;
      return false;
    else
      update imagefill.realtime_sent set sent_at = clock_timestamp(), pending = false where topic = p_topic;
    end if;
  exception
    when serialization_failure then
      null;  -- send below, uncoalesced
  end;
  perform realtime.send(jsonb_build_object('topic', p_topic, 'at', clock_timestamp()), p_event, p_topic, true);
  return true;
end
$$;

-- The trailing edge of a burst: topics marked pending whose window has passed. Called by the
-- worker's poll tick (every WORKER_POLL_SECONDS) and cheap when nothing is pending.
create or replace function imagefill.flush_broadcasts()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_topic text;
  v_sent integer := 0;
begin
  for v_topic in
    select s.topic from imagefill.realtime_sent s
     where s.pending and s.sent_at <= clock_timestamp() - interval '250 milliseconds'
  loop
    if imagefill.broadcast(v_topic, 'changed', true) then
      v_sent := v_sent + 1;
    end if;
  end loop;
  return v_sent;
end
$$;

-- Counters change exactly when the tally gets a non-zero delta (50_panel_queries.sql): one
-- statement-level trigger there covers the catalogue, the jobs and the review queue.
create or replace function imagefill.broadcast_tally_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from new_rows where n <> 0) then
    perform imagefill.broadcast('imagefill:progress', 'changed');
  end if;
  if exists (select 1 from new_rows where n <> 0 and counter like 'products:needs_review%') then
    perform imagefill.broadcast('imagefill:review', 'changed');
  end if;
  return null;
end
$$;

-- Workers wake up when jobs were queued (the same statements that send NOTIFY imagefill_jobs).
-- Not coalesced: a wake-up is cheap and an enqueue is one statement however many rows.
create or replace function imagefill.broadcast_jobs_queued()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from inserted_jobs where status = 'queued') then
    perform realtime.send(jsonb_build_object('topic', 'imagefill:jobs'), 'enqueued', 'imagefill:jobs', true);
  end if;
  return null;
end
$$;

revoke all on function imagefill.broadcast(text, text, boolean), imagefill.flush_broadcasts(),
  imagefill.broadcast_tally_change(), imagefill.broadcast_jobs_queued() from public;
grant execute on function imagefill.flush_broadcasts() to service_role;

-- Triggers and policies only where Realtime exists (a one-file install runs this whole file).
do $$
begin
  if to_regclass('realtime.messages') is null
     or to_regprocedure('realtime.send(jsonb,text,text,boolean)') is null then
    raise notice 'Imagefill: sem Supabase Realtime neste banco; o painel continua por consulta periódica.';
    return;
  end if;

  execute 'create or replace trigger imagefill_broadcast_tally after insert on imagefill.image_tally'
       || ' referencing new table as new_rows for each statement'
       || ' execute function imagefill.broadcast_tally_change()';
  execute 'create or replace trigger image_jobs_broadcast_queued after insert on public.image_jobs'
       || ' referencing new table as inserted_jobs for each statement'
       || ' execute function imagefill.broadcast_jobs_queued()';

  -- Realtime checks a join by inserting a probe message for the topic and reading it back as the
  -- joining user: this policy is what lets an operator read it. `realtime.topic()` is the topic
  -- being joined (or the one `realtime.send` writes to).
  execute 'drop policy if exists "Imagefill operators receive panel broadcasts" on realtime.messages';
  execute $p$
    create policy "Imagefill operators receive panel broadcasts" on realtime.messages
      for select to authenticated
      using (
        realtime.messages.extension = 'broadcast'
        and (select realtime.topic()) in ('imagefill:progress', 'imagefill:review')
        and (select public.is_image_operator())
      )
  $p$;
end
$$;

-- Imagefill records what it installed, whichever tool applied this file; this one only
-- where it could do its work (see `requires` above): else it stays pending.
alter table imagefill.schema_migrations add column if not exists checksum text;
insert into imagefill.schema_migrations (version, name, checksum)
select '20261128000174', 'imagefill_realtime_broadcast', '4d085a20932c417f18fa50d3edbd4b65369dc79151216ea55f704ce516429424' where to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null and to_regclass('realtime.messages') is not null
on conflict (version) do update set applied_at = now(), checksum = excluded.checksum;
