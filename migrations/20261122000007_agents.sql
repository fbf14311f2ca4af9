-- Agents: a platform registry in which each agent serves at most one org at a time. The
-- assignment is the agent's own org_id, so "one org" holds by construction, and the row is
-- org data under the same policy as every other org table: an org sees its own agents only.
-- Unassigned agents (org_id null) are seen through the platform path alone.
create table agent (
  agent_id    uuid primary key default gen_random_uuid(),
  name        text not null check (btrim(name) <> '' and length(name) <= 200),
  email       text not null check (email = lower(btrim(email)) and email like '%_@_%.__%'
                                   and length(email) <= 254),
  model       text not null check (btrim(model) <> '' and length(model) <= 100),
  -- `active` or `paused`; an agent of a disabled org reads "stopped" (derived, never stored).
  status      text not null default 'active' check (status in ('active', 'paused')),
  org_id      uuid references organization (org_id),
  assigned_at timestamptz,
  created_by  uuid references app_user (user_id) on delete set null,
  created_at  timestamptz not null default now(),
  check ((org_id is null) = (assigned_at is null))
);
create unique index agent_email_key on agent (email);
create index agent_org_idx on agent (org_id, name) where org_id is not null;

alter table agent enable row level security;
alter table agent force row level security;
create policy agent_tenant on agent
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
-- Inside an org the runtime role may pause and resume its agents; assigning, creating and
-- renaming go through the platform functions below.
revoke insert, delete, update on agent from tenantry_app;
grant update (status) on agent to tenantry_app;

-- An agent's API keys: `tnt_<prefix>_<secret>`; only a SHA-256 of the whole key is kept. The key
-- names the agent, the agent's assignment names the org. Never readable by the runtime role.
create table agent_key (
  key_id       uuid primary key default gen_random_uuid(),
  agent_id     uuid not null references agent (agent_id) on delete cascade,
  prefix       text not null unique check (prefix ~ '^[a-z0-9]{8,16}$'),
  key_hash     bytea not null check (length(key_hash) = 32),
  label        text not null default '' check (length(label) <= 100),
  created_by   uuid references app_user (user_id) on delete set null,
  created_at   timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
create index agent_key_agent_idx on agent_key (agent_id);
revoke all on agent_key from tenantry_app;

-- Agent memory: per-agent entries in the org of the agent's assignment. The org_id follows the
-- agent: set from it on insert, moved with it when the agent is reassigned (trigger below), and
-- null (seen by no org) while the agent is unassigned.
create table agent_memory (
  memory_id  uuid primary key default gen_random_uuid(),
  agent_id   uuid not null references agent (agent_id) on delete cascade,
  org_id     uuid references organization (org_id),
  content    text not null check (btrim(content) <> '' and length(content) <= 10000),
  created_at timestamptz not null default now()
);
create index agent_memory_org_idx on agent_memory (org_id, agent_id, created_at desc);

alter table agent_memory enable row level security;
alter table agent_memory force row level security;
create policy agent_memory_tenant on agent_memory
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke update on agent_memory from tenantry_app;

-- A new entry takes the org the agent serves now; naming another org is refused. The policy's
-- check then refuses it unless that is the org the transaction is scoped to.
create function agent_memory_scope() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  serving uuid;
begin
  select org_id into serving from agent where agent_id = new.agent_id;
  if new.org_id is not null and new.org_id is distinct from serving then
    raise exception 'agent memory belongs to the org its agent serves'
      using errcode = 'insufficient_privilege';
  end if;
  new.org_id := serving;
  return new;
end $$;
create trigger agent_memory_scope before insert on agent_memory
  for each row execute function agent_memory_scope();
revoke all on function agent_memory_scope() from public;

-- Reassigning (or unassigning) moves the agent's memory with it.
create function agent_memory_follows() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  update agent_memory set org_id = new.org_id where agent_id = new.agent_id;
  return null;
end $$;
create trigger agent_memory_follows after update of org_id on agent
  for each row when (old.org_id is distinct from new.org_id)
  execute function agent_memory_follows();
revoke all on function agent_memory_follows() from public;

-- ---- The platform path for agents ---------------------------------------------------------

-- The registry: every agent with the org it serves (superadmins; the caller holds the proof).
create function platform.agent_registry(p_search text, p_limit integer, p_offset integer)
returns table (agent_id uuid, name text, email text, model text, status text, org_id uuid,
               org_name text, org_active boolean, created_at timestamptz, keys bigint,
               total bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  with matching as (
    select a.* from agent a
     where p_search is null or a.name ilike '%' || p_search || '%'
        or a.email ilike '%' || p_search || '%' or a.model ilike '%' || p_search || '%'
  ), counted as (select count(*) as total from matching)
  select a.agent_id, a.name, a.email, a.model, a.status, a.org_id, o.name, o.status = 'active',
         a.created_at,
         (select count(*) from agent_key k where k.agent_id = a.agent_id and k.revoked_at is null),
         c.total
    from matching a cross join counted c left join organization o on o.org_id = a.org_id
   order by lower(a.name), a.email
   limit p_limit offset p_offset
$$;

-- Agents no org has: the Agents tab's dropdown.
create function platform.unassigned_agents()
returns table (agent_id uuid, name text, email text, model text)
language sql stable security definer set search_path = public, pg_temp as $$
  select agent_id, name, email, model from agent where org_id is null order by lower(name), email
$$;

create function platform.create_agent(p_name text, p_email text, p_model text, p_created_by uuid)
returns uuid
language sql volatile security definer set search_path = public, pg_temp as $$
  insert into agent (name, email, model, created_by)
  values (btrim(p_name), lower(btrim(p_email)), btrim(p_model), p_created_by)
  returning agent_id
$$;

-- Assigns an agent to the org the calling transaction is scoped to, if it is unassigned (or
-- already there). Returns the org it serves afterwards: that org's id when another one has it.
create function platform.assign_agent(p_agent_id uuid)
returns uuid
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  scope uuid := nullif(current_setting('app.org_id', true), '')::uuid;
  current_org uuid;
begin
  if scope is null then
    raise exception 'assign_agent needs a transaction scoped to an org'
      using errcode = 'insufficient_privilege';
  end if;
  select org_id into current_org from agent where agent_id = p_agent_id for update;
  if not found then
    return null;
  end if;
  if current_org is null then
    update agent set org_id = scope, assigned_at = now() where agent_id = p_agent_id;
    return scope;
  end if;
  return current_org;
end $$;

-- Unassigns an agent from the org the calling transaction is scoped to (only from that org).
create function platform.unassign_agent(p_agent_id uuid)
returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  scope uuid := nullif(current_setting('app.org_id', true), '')::uuid;
begin
  update agent set org_id = null, assigned_at = null
   where agent_id = p_agent_id and org_id = scope;
  return found;
end $$;

-- "ORG7 · Name", to tell a superadmin which org has an agent already.
create function platform.org_label(p_org_id uuid)
returns text
language sql stable security definer set search_path = public, pg_temp as $$
  select 'ORG' || org_number || ' · ' || name from organization where org_id = p_org_id
$$;

-- A key's agent and the org it serves, for the agent gate; marks the key used.
create function platform.agent_for_key(p_prefix text, p_hash bytea)
returns table (agent_id uuid, agent_name text, agent_status text, org_id uuid,
               org_status text)
language sql volatile security definer set search_path = public, pg_temp as $$
  update agent_key k set last_used_at = now()
    from agent a left join organization o on o.org_id = a.org_id
   where k.prefix = p_prefix and k.key_hash = p_hash and k.revoked_at is null
     and a.agent_id = k.agent_id
  returning a.agent_id, a.name, a.status, a.org_id, o.status
$$;

create function platform.issue_agent_key(p_agent_id uuid, p_prefix text, p_hash bytea,
                                         p_label text, p_created_by uuid)
returns uuid
language sql volatile security definer set search_path = public, pg_temp as $$
  insert into agent_key (agent_id, prefix, key_hash, label, created_by)
  values (p_agent_id, p_prefix, p_hash, coalesce(btrim(p_label), ''), p_created_by)
  returning key_id
$$;

create function platform.agent_keys(p_agent_id uuid)
returns table (key_id uuid, prefix text, label text, created_at timestamptz,
               last_used_at timestamptz, revoked_at timestamptz)
language sql stable security definer set search_path = public, pg_temp as $$
  select key_id, prefix, label, created_at, last_used_at, revoked_at
    from agent_key where agent_id = p_agent_id order by created_at desc
$$;

create function platform.revoke_agent_key(p_key_id uuid)
returns boolean
language sql volatile security definer set search_path = public, pg_temp as $$
  update agent_key set revoked_at = now() where key_id = p_key_id and revoked_at is null
  returning true
$$;

revoke all on all functions in schema platform from public;
grant execute on all functions in schema platform to tenantry_app;
