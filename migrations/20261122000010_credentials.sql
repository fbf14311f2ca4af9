-- Credentials for skills and integrations: scoped to an org, or to one agent within it. Only
-- AES-256-GCM ciphertext is stored (the key comes from configuration, never the database), with
-- the last four characters for people to recognise it by.
create table credential (
  credential_id uuid primary key default gen_random_uuid(),
  org_id        uuid not null references organization (org_id) on delete cascade,
  -- Null: every agent of the org may use it.
  agent_id      uuid references agent (agent_id) on delete cascade,
  name          text not null check (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  kind          text not null check (kind in ('api_key', 'token', 'password', 'webhook_secret')),
  nonce         bytea not null check (length(nonce) = 12),
  ciphertext    bytea not null,
  last4         text not null check (length(last4) <= 4),
  created_by    uuid references app_user (user_id) on delete set null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create unique index credential_name_key on credential (org_id, coalesce(agent_id, '00000000-0000-0000-0000-000000000000'::uuid), name);

alter table credential enable row level security;
alter table credential force row level security;
create policy credential_tenant on credential
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

-- The agent gate marked a key used on every call, one write per request; once a minute is
-- enough to tell a live key from a forgotten one.
create or replace function platform.agent_for_key(p_prefix text, p_hash bytea)
returns table (agent_id uuid, agent_name text, agent_status text, org_id uuid,
               org_status text)
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  found_key uuid;
  used timestamptz;
begin
  select k.key_id, k.last_used_at into found_key, used
    from agent_key k
   where k.prefix = p_prefix and k.key_hash = p_hash and k.revoked_at is null;
  if found_key is null then
    return;
  end if;
  if used is null or used < now() - interval '1 minute' then
    update agent_key set last_used_at = now() where key_id = found_key;
  end if;
  return query
    select a.agent_id, a.name, a.status, a.org_id, o.status
      from agent_key k join agent a on a.agent_id = k.agent_id
      left join organization o on o.org_id = a.org_id
     where k.key_id = found_key;
end $$;
