-- Authority (issue "One gate for who may do what").
--
-- 1. One list of sections. The Rust list (`tenancy::access::Section::ALL`) is the source; this
--    function repeats it for the check constraints, and a test fails when the two differ.
create function platform.sections() returns text[]
language sql immutable as $$
  select array['organizations', 'users', 'products', 'agents', 'knowledge', 'guardrails',
               'billing', 'audit', 'settings']
$$;
grant execute on function platform.sections() to tenantry_app;
alter table org_role drop constraint org_role_pages_check,
  add constraint org_role_pages_check check (pages <@ platform.sections());
alter table membership drop constraint membership_pages_check,
  add constraint membership_pages_check check (pages <@ platform.sections());

-- 2. A plan may leave out the platform's own LLM keys (the last fallback after the member's
--    and the org's keys); on by default, as before.
alter table plan add column server_llm_keys boolean not null default true;

-- 3. An agent's memory stays in the org it was written in: reassigning an agent no longer
--    carries what it learnt for one client into the next.
drop trigger agent_memory_follows on agent;
drop function agent_memory_follows();
-- What it wrote goes with that org when the org is deleted.
alter table agent_memory drop constraint agent_memory_org_id_fkey,
  add constraint agent_memory_org_id_fkey foreign key (org_id)
    references organization (org_id) on delete cascade;

-- 4. A usage event's idempotency key is the reporting agent's: two agents of one org that
--    happen to use the same key no longer drop each other's usage.
alter table usage_event drop constraint usage_event_pkey,
  add constraint usage_event_pkey primary key (org_id, agent_id, idempotency_key);

-- 5. Entitlements belong to the platform, and the database holds to it too: the plan, seats,
--    billing platform and status of a subscription, the default rate per agent and per-agent
--    rates change only in a transaction of a platform superadmin (app.user_id, which only the
--    gate sets, from a verified session) or of a verified system caller (app.system: Stripe's
--    signed webhook). A tenant's transaction that tries is refused (42501) whatever the code.
create function platform.entitlement_writer() returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
  select coalesce(current_setting('app.system', true), '') <> ''
      or exists (select from app_user
                  where user_id = nullif(current_setting('app.user_id', true), '')::uuid
                    and is_superadmin and status = 'active')
$$;
revoke all on function platform.entitlement_writer() from public;

create function entitlement_guard() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  -- Only the runtime role is held to it: migrations and maintenance connect as the owner.
  -- (session_user: inside this security-definer function current_user is always the owner.)
  if session_user <> 'tenantry_app' then
    return coalesce(new, old);
  end if;
  if not platform.entitlement_writer() then
    raise exception 'only the platform changes this (entitlements, the agent pool)'
      using errcode = '42501';
  end if;
  return coalesce(new, old);
end $$;
revoke all on function entitlement_guard() from public;
create trigger subscription_entitlement before insert or update or delete on subscription
  for each row execute function entitlement_guard();
create trigger agent_rate_entitlement before insert or update or delete on agent_rate
  for each row execute function entitlement_guard();
create trigger org_account_rate_entitlement before update of default_rate_cents on org_account
  for each row when (new.default_rate_cents is distinct from old.default_rate_cents)
  execute function entitlement_guard();

-- 6. The session check every request makes, in one round trip (it took four: a transaction to
--    scope it). It crosses row-level security narrowly: it answers only for the session id and
--    user id of a token whose signature the server has just verified.
create function platform.session_principal(p_session uuid, p_user uuid,
                                           out status text, out is_superadmin boolean,
                                           out bound_org_id uuid)
returns setof record
language sql stable security definer set search_path = public, pg_temp as $$
  select u.status, u.is_superadmin, u.bound_org_id
    from session s join app_user u on u.user_id = s.user_id
   where s.session_id = p_session and s.user_id = p_user
     and s.revoked_at is null and s.expires_at > now()
$$;
revoke all on function platform.session_principal(uuid, uuid) from public;
grant execute on function platform.session_principal(uuid, uuid) to tenantry_app;

-- 7. The pool of unassigned agents is the platform's, in the database too: it is listed, and an
--    agent taken from it, only in a superadmin's transaction (the same test as entitlements).
create or replace function platform.unassigned_agents()
returns table (agent_id uuid, name text, email text, model text)
language sql stable security definer set search_path = public, pg_temp as $$
  select agent_id, name, email, model from agent
   where org_id is null and platform.entitlement_writer()
   order by lower(name), email
$$;
create trigger agent_assignment_guard before update of org_id on agent
  for each row when (old.org_id is null and new.org_id is not null)
  execute function entitlement_guard();

-- 8. For the migrations to come: a new tenant table is one call, which enables and forces
--    row-level security and adds the standard policy (`<table>_tenant`, one InitPlan per
--    query); and a trigger function that keeps `updated_at`. The catalog test still checks
--    every table with an org_id, whoever made it.
create function platform.tenant_table(p_table regclass) returns void
language plpgsql as $$
declare
  name text := (select relname from pg_class where oid = p_table);
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('alter table %s force row level security', p_table);
  execute format(
    'create policy %I on %s using (org_id = (select nullif(current_setting(''app.org_id'', true), '''')::uuid))',
    name || '_tenant', p_table);
end $$;
revoke all on function platform.tenant_table(regclass) from public;

create function platform.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;
