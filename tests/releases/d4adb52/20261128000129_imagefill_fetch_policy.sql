-- Imagefill: the database's half of the outbound-fetch policy. The worker's resolver refuses
-- private, loopback and link-local addresses on every download; the review panel refuses URLs that
-- name such an address literally before a job is even created (defence in depth).
-- Rendered by `imagefill schema render`; edit the template in worker/sql/, not this file.

-- Hosts a pasted URL may name although they are private: the database's twin of the worker's
-- IMAGE_FETCH_ALLOW_HOSTS (e.g. an internal image server). Empty by default.
create table if not exists imagefill.fetch_allow_hosts (
  host text primary key,  -- a host name or a literal IP, lower case, IPv6 without brackets
  note text
);
revoke all on imagefill.fetch_allow_hosts from public;
grant select on imagefill.fetch_allow_hosts to service_role;

-- Defence in depth for pasted URLs (the worker's resolver-level check stays the real guard): a
-- host written as a literal private, loopback, link-local or reserved address, `localhost`, or a
-- numeric form other than a plain dotted quad (2130706433, 127.1, 0x7f.1, 0177.0.0.1) is refused.
-- Returns the reason in Portuguese, or NULL when the host is acceptable.
create or replace function imagefill.private_url_host(p_url text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_host text := lower(substring(p_url from '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^/?#@]*@)?(\[[^]]*\]|[^/?#:]*)'));
  v_ip inet;
begin
  if v_host is null or v_host = '' then
    return 'URL sem host';
  end if;
  if p_url ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@' then
    return 'URL com usuário/senha não é aceita';
  end if;
  v_host := rtrim(v_host, '.');
  if exists (select 1 from imagefill.fetch_allow_hosts a where a.host = btrim(v_host, '[]')) then
    return null;
  end if;
  if v_host = 'localhost' or v_host like '%.localhost' then
    return format('o endereço %s é local', v_host);
  end if;
  if v_host ~ '^\[.*\]$' then
    begin
      v_ip := btrim(v_host, '[]')::inet;
    exception when others then
      return format('endereço IPv6 inválido: %s', v_host);
    end;
    -- ::ffff:a.b.c.d is the IPv4 address a.b.c.d in disguise; nobody needs to paste one.
    if v_ip << '::ffff:0:0/96'::inet then
      return format('endereço IPv4 mapeado em IPv6 (%s) não é aceito', host(v_ip));
    end if;
  elsif v_host ~ '^[0-9]+(\.[0-9]+){3}$' and v_host !~ '(^|\.)0[0-9]' then
    begin
      v_ip := v_host::inet;
    exception when others then
      return format('endereço IP inválido: %s', v_host);
    end;
  elsif v_host ~ '^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$' then
    return format('endereço IP em formato numérico não canônico (%s) não é aceito; use um endereço público', v_host);
  else
    return null;  -- a name: the worker checks what it resolves to
  end if;
  if v_ip << any (array['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16',
                        '172.16.0.0/12', '192.0.0.0/24', '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/3',
                        '::/127', 'fc00::/7', 'fe80::/10', 'ff00::/8']::inet[])
     or v_ip = any (array['0.0.0.0', '::', '::1']::inet[]) then
    return format('o endereço %s é privado, local ou reservado', host(v_ip));
  end if;
  return null;
end
$$;
revoke all on function imagefill.private_url_host(text) from public;

-- Imagefill records what it installed, whichever tool applied this file.
insert into imagefill.schema_migrations (version, name)
values ('20261128000129', 'imagefill_fetch_policy')
on conflict (version) do update set applied_at = now();
