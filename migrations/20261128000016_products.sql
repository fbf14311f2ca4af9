-- Products: installing a catalog product into an org as a resumable run of artifact steps, and
-- per-org roles that own the dedicated schemas, so PostgreSQL itself keeps one org's scope out of
-- another org's product tables.

-- ---------------------------------------------------------------------------------------------
-- Per-org roles. Each org's schema is owned by a NOLOGIN role of the same name, a member of the
-- marker group tenantry_org. The runtime role is a member of each (it is NOINHERIT, so it holds
-- none of their privileges until it takes one with `set local role` inside that org's tenant
-- transaction: platform.enter_org_schema below). The owner creates them (CREATEROLE, given by
-- the bootstrap) and is a member too, as creating a schema for a role requires.
do $$
begin
  if not exists (select from pg_roles where rolname = 'tenantry_org') then
    create role tenantry_org nologin;
  end if;
end $$;

create or replace function platform.provision_org_schema(p_org_id uuid) returns text
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  name text := platform.org_schema_name(p_org_id);
begin
  if p_org_id is distinct from nullif(current_setting('app.org_id', true), '')::uuid then
    raise exception 'an org schema can only be provisioned inside that org''s transaction';
  end if;
  if not exists (select from pg_roles where rolname = name) then
    execute format('create role %I nologin noinherit in role tenantry_org', name);
  end if;
  execute format('grant %I to tenantry_app, tenantry_owner', name);
  execute format('create schema %I authorization %I', name, name);
  return name;
end $$;

create or replace function platform.drop_org_schema(p_org_id uuid) returns void
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  name text := platform.org_schema_name(p_org_id);
begin
  if p_org_id is distinct from nullif(current_setting('app.org_id', true), '')::uuid then
    raise exception 'an org schema can only be dropped inside that org''s transaction';
  end if;
  execute format('drop schema if exists %I cascade', name);
  if exists (select from pg_roles where rolname = name) then
    execute format('drop role %I', name);
  end if;
end $$;

-- The orgs that exist already: their schemas move to their own roles.
do $$
declare
  org record;
  name text;
begin
  for org in select org_id from organization loop
    name := platform.org_schema_name(org.org_id);
    if not exists (select from pg_roles where rolname = name) then
      execute format('create role %I nologin noinherit in role tenantry_org', name);
    end if;
    execute format('grant %I to tenantry_app, tenantry_owner', name);
    if exists (select from pg_namespace where nspname = name) then
      execute format('revoke usage on schema %I from tenantry_app', name);
      execute format('alter schema %I owner to %I', name, name);
    else
      execute format('create schema %I authorization %I', name, name);
    end if;
  end loop;
end $$;

-- ---------------------------------------------------------------------------------------------
-- What an org has installed: a row once an install finishes (the Organizations table counts
-- these), with the version and the run that made it. Products come from the catalog, which the
-- server checks; the database keeps the names well-formed.
alter table org_product drop constraint org_product_product_check;
alter table org_product
  add constraint org_product_product_check check (product ~ '^[a-z][a-z0-9_]{0,39}$'),
  add column version integer not null default 1 check (version > 0),
  add column run_id uuid;

-- Every tenant table below (product_run, product_step, product_artifact, org_skill, org_config)
-- goes through platform.tenant_table (migration 15), which does `enable` and
-- `force row level security` and creates the standard org_id policy; the catalog test in
-- server/tests/integration/isolation.rs checks each one is forced.

-- A run: install, uninstall, upgrade or rollback of one product in one org. Its plan (the steps)
-- is saved with it before anything runs. A worker holds it under a lease it renews (heartbeat);
-- a run whose lease ran out is taken over and resumed at its first step not done.
create table product_run (
  org_id       uuid not null references organization (org_id) on delete cascade,
  run_id       uuid not null default gen_random_uuid(),
  product      text not null,
  version      integer not null check (version > 0),
  action       text not null,
  status       text not null default 'pending',
  error        text not null default '' check (length(error) <= 2000),
  total        integer not null check (total >= 0),
  done         integer not null default 0 check (done >= 0),
  lease_owner  uuid,
  lease_until  timestamptz,
  -- Claims so far: a run that keeps losing its worker without finishing is failed, not
  -- claimed for ever.
  attempts     integer not null default 0,
  created_by   uuid references app_user (user_id) on delete set null,
  created_at   timestamptz not null default now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  primary key (org_id, run_id),
  constraint product_run_action_check
    check (action in ('install', 'uninstall', 'upgrade', 'rollback')),
  constraint product_run_status_check
    check (status in ('pending', 'running', 'succeeded', 'failed', 'rolled_back'))
);
-- One operation at a time per product and org: a failed run stays active until it is retried
-- to the end or rolled back.
create unique index product_run_active_key on product_run (org_id, product)
  where status in ('pending', 'running', 'failed');
create index product_run_org_idx on product_run (org_id, created_at desc);
select platform.tenant_table('product_run');
revoke delete on product_run from tenantry_app;

-- The plan: one step per artifact, in order. `op` says whether the step makes its artifact or
-- removes it. A step's status commits in the same transaction as its artifact.
create table product_step (
  org_id      uuid not null,
  run_id      uuid not null,
  seq         integer not null check (seq >= 0),
  kind        text not null,
  name        text not null,
  op          text not null check (op in ('create', 'remove')),
  definition  jsonb not null default '{}',
  status      text not null default 'pending',
  error       text not null default '' check (length(error) <= 2000),
  duration_ms integer,
  finished_at timestamptz,
  primary key (org_id, run_id, seq),
  foreign key (org_id, run_id) references product_run (org_id, run_id) on delete cascade,
  constraint product_step_kind_check
    check (kind in ('entity', 'skill', 'agent', 'guardrail', 'knowledge', 'config')),
  constraint product_step_status_check
    check (status in ('pending', 'done', 'skipped', 'failed'))
);
select platform.tenant_table('product_step');
-- A step's plan is written once; afterwards only its outcome changes.
revoke delete, update on product_step from tenantry_app;
grant update (status, error, duration_ms, finished_at) on product_step to tenantry_app;

-- The ledger: every artifact a product's run made in the org, with that run, so uninstall and
-- rollback remove exactly what was made (and nothing an admin made by hand).
create table product_artifact (
  org_id      uuid not null references organization (org_id) on delete cascade,
  kind        text not null,
  name        text not null,
  product     text not null,
  definition  jsonb not null,
  run_id      uuid not null,
  -- The step of that run that made it: uninstall and rollback remove in reverse.
  seq         integer not null,
  -- The id of the row the artifact is (an agent, a policy, an entry), if it is a row.
  ref_id      uuid,
  created_at  timestamptz not null default now(),
  primary key (org_id, kind, name)
);
create index product_artifact_product_idx on product_artifact (org_id, product);
select platform.tenant_table('product_artifact');

-- Skills and configuration entries products bring (the agents' tools and settings).
create table org_skill (
  org_id      uuid not null references organization (org_id) on delete cascade,
  name        text not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  product     text not null,
  description text not null default '' check (length(description) <= 2000),
  definition  jsonb not null default '{}' check (jsonb_typeof(definition) = 'object'),
  created_at  timestamptz not null default now(),
  primary key (org_id, name)
);
select platform.tenant_table('org_skill');

create table org_config (
  org_id      uuid not null references organization (org_id) on delete cascade,
  key         text not null check (key ~ '^[a-z][a-z0-9_.]{0,99}$'),
  product     text not null,
  value       jsonb not null,
  created_at  timestamptz not null default now(),
  primary key (org_id, key)
);
select platform.tenant_table('org_config');

-- Inside a tenant transaction: act as the org's own role, the only one that can reach its
-- schema, until `set local role none`. The role is named from the transaction's org, never
-- from an argument, so a scope cannot take another org's role through this.
create function platform.enter_org_schema() returns text
language sql volatile as $$
  select set_config('role',
    platform.org_schema_name(nullif(current_setting('app.org_id', true), '')::uuid), true)
$$;
revoke all on function platform.enter_org_schema() from public;
grant execute on function platform.enter_org_schema() to tenantry_app;

-- Workers take runs across orgs: the next run that is pending, or running under a lease that
-- ran out (its worker died), leased to p_worker for p_seconds. Cross-org by nature (the worker
-- serves every org); it returns only the run's key and its claim count, and the worker reads
-- the rest in the org's own scope. A lease lasts 1 to 300 seconds, whatever is asked.
create function platform.claim_product_run(p_worker uuid, p_seconds integer)
returns table (org_id uuid, run_id uuid, attempts integer)
language sql volatile security definer set search_path = public, pg_temp as $$
  update product_run r
     set lease_owner = p_worker,
         lease_until = clock_timestamp() + make_interval(secs => least(greatest(p_seconds, 1), 300)),
         status = 'running',
         attempts = r.attempts + 1,
         started_at = coalesce(r.started_at, now())
    from (select c.org_id, c.run_id from product_run c
           where c.status = 'pending'
              or (c.status = 'running' and (c.lease_until is null or c.lease_until < now()))
           order by c.created_at
           limit 1
           for update skip locked) next
   where r.org_id = next.org_id and r.run_id = next.run_id
  returning r.org_id, r.run_id, r.attempts
$$;
revoke all on function platform.claim_product_run(uuid, integer) from public;
grant execute on function platform.claim_product_run(uuid, integer) to tenantry_app;

-- An agent a product made leaves with it: unassigned from the org the transaction is scoped to
-- and deleted, only by a verified system caller (the product engine) and only if a product made
-- it (agents the platform registered are never deleted this way: the product address marks
-- them).
create function platform.delete_unassigned_agent(p_agent_id uuid) returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  scope uuid := nullif(current_setting('app.org_id', true), '')::uuid;
  gone boolean;
begin
  if scope is null or coalesce(current_setting('app.system', true), '') = '' then
    raise exception 'only the product engine removes a product''s agent'
      using errcode = 'insufficient_privilege';
  end if;
  with removed as (
    delete from agent
     where agent_id = p_agent_id and (org_id = scope or org_id is null)
       and email like '%@products.tenantry.invalid'
    returning 1)
  select exists (select from removed) into gone;
  return gone;
end $$;
revoke all on function platform.delete_unassigned_agent(uuid) from public;
grant execute on function platform.delete_unassigned_agent(uuid) to tenantry_app;
