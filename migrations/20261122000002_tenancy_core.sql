-- The tenancy core: organizations, users, roles, memberships, sessions and the audit log, every
-- org-holding table behind forced row-level security, and the narrow platform path.
--
-- Settings the policies read (always set with set_config(..., true): transaction-local):
--   app.org_id   the organization a tenant transaction acts in
--   app.user_id  the signed-in user (sessions and the user's own row)
-- An unset or empty setting matches nothing: no org context, no rows.

do $$
begin
  if not (select rolbypassrls from pg_roles where rolname = current_user) then
    raise exception 'the migrating role % needs BYPASSRLS: it owns the platform functions that answer cross-org lookups (see README, "Configuration")', current_user;
  end if;
end $$;

-- Users: global identities. Not org data, but a user is only visible to itself and to the orgs it
-- belongs to.
create table app_user (
  user_id        uuid primary key,
  email          text not null,
  name           text not null,
  password_hash  text,
  status         text not null default 'active',
  is_superadmin  boolean not null default false,
  -- A client user locked to one organization.
  bound_org_id   uuid,
  last_login_at  timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint app_user_status_check check (status in ('active', 'disabled')),
  constraint app_user_email_check check (email = lower(btrim(email)) and email like '%_@_%'),
  constraint app_user_name_check check (btrim(name) <> '')
);
create unique index app_user_email_key on app_user (email);

-- The organization registry. Its key is named org_id so that the same policy and the same
-- catalog checks cover it as every other tenant table.
create table organization (
  org_id          uuid primary key,
  -- Shown as ORG{n}.
  org_number      bigint generated always as identity,
  name            text not null,
  slug            text not null,
  primary_domain  text,
  description     text not null default '',
  contact_email   text not null default '',
  contact_phone   text not null default '',
  address_line1   text not null default '',
  address_line2   text not null default '',
  city            text not null default '',
  state           text not null default '',
  country         text not null default '',
  zip             text not null default '',
  product         text not null default 'eloquent',
  status          text not null default 'active',
  parent_org_id   uuid references organization (org_id) on delete restrict,
  -- The last member number handed out, for ORG{n}-U-{seq}.
  member_seq      integer not null default 0,
  created_by      uuid references app_user (user_id) on delete set null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint organization_org_number_key unique (org_number),
  constraint organization_status_check check (status in ('active', 'disabled')),
  constraint organization_product_check check (product in
    ('eloquent', 'aafya', 'done', 'fahim', 'shop_assist', 'crm', 'consumer', 'custom')),
  constraint organization_name_check check (btrim(name) <> ''),
  constraint organization_slug_check check (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  constraint organization_parent_check check (parent_org_id <> org_id)
);
create unique index organization_name_key on organization (lower(name));
create unique index organization_slug_key on organization (slug);
create unique index organization_primary_domain_key on organization (primary_domain);

alter table app_user
  add constraint app_user_bound_org_id_fkey
  foreign key (bound_org_id) references organization (org_id) on delete restrict;

-- A slug is part of every URL and subdomain that names the org: it never changes.
create function organization_keep_slug() returns trigger
language plpgsql as $$
begin
  if new.slug <> old.slug then
    raise exception 'the slug of an organization cannot be changed'
      using errcode = 'check_violation', constraint = 'organization_slug_immutable';
  end if;
  new.updated_at := now();
  return new;
end $$;
create trigger organization_keep_slug before update on organization
  for each row execute function organization_keep_slug();

-- Roles of an org: the six built-in ones and up to 20 custom ones, each with the Admin App
-- sections it may open.
create table org_role (
  org_id      uuid not null references organization (org_id) on delete cascade,
  role_name   text not null,
  builtin     boolean not null default false,
  pages       text[] not null default '{}',
  created_at  timestamptz not null default now(),
  primary key (org_id, role_name),
  constraint org_role_name_check check (role_name ~ '^[a-z][a-z0-9_-]{0,39}$'),
  constraint org_role_pages_check check (pages <@ array['organizations', 'users', 'products',
    'agents', 'knowledge', 'guardrails', 'billing', 'audit', 'settings'])
);

create function org_role_guard() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    if old.role_name in ('admin', 'member')
       and exists (select from organization o where o.org_id = old.org_id) then
      raise exception 'the % role is always present and cannot be removed', old.role_name
        using errcode = 'check_violation', constraint = 'org_role_required';
    end if;
    return old;
  end if;
  if not new.builtin and (select count(*) from org_role r
                           where r.org_id = new.org_id and not r.builtin) >= 20 then
    raise exception 'an organization may have at most 20 custom roles'
      using errcode = 'check_violation', constraint = 'org_role_limit';
  end if;
  return new;
end $$;
create trigger org_role_guard before insert or delete on org_role
  for each row execute function org_role_guard();

-- Who belongs to which org, in which role. member_seq is shown as ORG{n}-U-{seq}.
create table membership (
  org_id      uuid not null references organization (org_id) on delete restrict,
  user_id     uuid not null references app_user (user_id) on delete cascade,
  role_name   text not null,
  member_seq  integer not null,
  -- Sections this member may open; null means those of the role.
  pages       text[],
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  primary key (org_id, user_id),
  constraint membership_member_seq_key unique (org_id, member_seq),
  constraint membership_role_fkey foreign key (org_id, role_name)
    references org_role (org_id, role_name) on update cascade on delete restrict,
  constraint membership_pages_check check (pages <@ array['organizations', 'users', 'products',
    'agents', 'knowledge', 'guardrails', 'billing', 'audit', 'settings'])
);
create index membership_role_idx on membership (org_id, role_name);
-- The one index that does not lead with org_id: the platform lookup "which orgs does this user
-- belong to" (sign-in, the org switcher), which by nature crosses orgs.
create index membership_user_idx on membership (user_id, org_id);

-- Revocable sign-in sessions; every request checks its session here.
create table session (
  session_id  uuid primary key,
  user_id     uuid not null references app_user (user_id) on delete cascade,
  ip          text not null default '',
  user_agent  text not null default '',
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  revoked_at  timestamptz
);
create index session_user_idx on session (user_id, created_at desc);

-- What happened, who did it, from where. org_id is null for platform events (visible to no org).
create table audit_event (
  audit_event_id  bigint generated always as identity primary key,
  org_id          uuid references organization (org_id) on delete cascade,
  actor_user_id   uuid,
  action          text not null,
  target          text not null default '',
  ip              text not null default '',
  user_agent      text not null default '',
  details         jsonb not null default '{}',
  created_at      timestamptz not null default now()
);
create index audit_event_org_idx on audit_event (org_id, created_at desc);

-- Row-level security. `(select …)` makes the setting one InitPlan per query, so org_id indexes
-- stay usable. FORCE applies the policies to the table owner as well.
alter table organization enable row level security;
alter table organization force row level security;
create policy organization_tenant on organization
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

alter table org_role enable row level security;
alter table org_role force row level security;
create policy org_role_tenant on org_role
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

alter table membership enable row level security;
alter table membership force row level security;
create policy membership_tenant on membership
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

alter table audit_event enable row level security;
alter table audit_event force row level security;
create policy audit_event_tenant on audit_event
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

alter table app_user enable row level security;
alter table app_user force row level security;
create policy app_user_self_or_member on app_user
  using (user_id = (select nullif(current_setting('app.user_id', true), '')::uuid)
         or exists (select from membership m
                     where m.org_id = (select nullif(current_setting('app.org_id', true), '')::uuid)
                       and m.user_id = app_user.user_id));

alter table session enable row level security;
alter table session force row level security;
create policy session_own on session
  using (user_id = (select nullif(current_setting('app.user_id', true), '')::uuid));

-- Only the auth layer's platform functions make superadmins; the runtime role may not write the
-- flag (column privileges narrow the table-wide grant of migration 1).
revoke insert, update on app_user from tenantry_app;
grant insert (user_id, email, name, password_hash, status, bound_org_id, last_login_at,
              created_at, updated_at) on app_user to tenantry_app;
grant update (email, name, password_hash, status, bound_org_id, last_login_at, updated_at)
  on app_user to tenantry_app;
-- The audit log is append-only for the server.
revoke update, delete on audit_event from tenantry_app;

-- The platform path: narrow security-definer functions, owned by tenantry_owner (which has
-- BYPASSRLS), for the few questions that cross orgs by nature. The server decides in Rust who may
-- call the wide ones (a superadmin proof); each function answers one question.
create schema platform;
revoke all on schema platform from public;
grant usage on schema platform to tenantry_app;

create function platform.org_by_id(p_org_id uuid)
returns table (org_id uuid, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.status from organization o where o.org_id = p_org_id
$$;

create function platform.org_by_slug(p_slug text)
returns table (org_id uuid, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.status from organization o where o.slug = lower(p_slug)
$$;

create function platform.org_by_domain(p_domain text)
returns table (org_id uuid, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.status from organization o where o.primary_domain = lower(p_domain)
$$;

create function platform.user_for_sign_in(p_email text)
returns table (user_id uuid, password_hash text, status text, is_superadmin boolean,
               bound_org_id uuid)
language sql stable security definer set search_path = public, pg_temp as $$
  select u.user_id, u.password_hash, u.status, u.is_superadmin, u.bound_org_id
    from app_user u where u.email = lower(btrim(p_email))
$$;

-- The orgs a user belongs to (the switcher, the org a sign-in lands in).
create function platform.user_orgs(p_user_id uuid)
returns table (org_id uuid, org_number bigint, name text, slug text, status text,
               role_name text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.org_number, o.name, o.slug, o.status, m.role_name
    from membership m join organization o on o.org_id = m.org_id
   where m.user_id = p_user_id
   order by o.name
$$;

-- Every org: only ever called with a superadmin proof.
create function platform.all_orgs()
returns table (org_id uuid, org_number bigint, name text, slug text, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.org_number, o.name, o.slug, o.status from organization o order by o.name
$$;

create function platform.superadmin_count() returns bigint
language sql stable security definer set search_path = public, pg_temp as $$
  select count(*) from app_user where is_superadmin
$$;

-- The first superadmin, through the one-time setup path. Refuses once any superadmin exists.
create function platform.create_first_superadmin(p_user_id uuid, p_email text, p_name text,
                                                 p_password_hash text) returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  perform pg_advisory_xact_lock(hashtext('platform.create_first_superadmin'));
  if exists (select from app_user where is_superadmin) then
    return false;
  end if;
  insert into app_user (user_id, email, name, password_hash, is_superadmin)
  values (p_user_id, lower(btrim(p_email)), btrim(p_name), p_password_hash, true);
  return true;
end $$;

-- The dedicated schema of the org the transaction acts in (and only that one).
create function platform.org_schema_name(p_org_id uuid) returns text
language sql immutable as $$
  select 'org_' || replace(p_org_id::text, '-', '')
$$;

create function platform.provision_org_schema(p_org_id uuid) returns text
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  name text := platform.org_schema_name(p_org_id);
begin
  if p_org_id is distinct from nullif(current_setting('app.org_id', true), '')::uuid then
    raise exception 'an org schema can only be provisioned inside that org''s transaction';
  end if;
  execute format('create schema %I', name);
  execute format('grant usage on schema %I to tenantry_app', name);
  return name;
end $$;

create function platform.drop_org_schema(p_org_id uuid) returns void
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  if p_org_id is distinct from nullif(current_setting('app.org_id', true), '')::uuid then
    raise exception 'an org schema can only be dropped inside that org''s transaction';
  end if;
  execute format('drop schema if exists %I cascade', platform.org_schema_name(p_org_id));
end $$;

-- Audit events the tenant path cannot write: rejections aimed at another org, and platform
-- events (org null). Append-only.
create function platform.record_audit(p_org_id uuid, p_actor uuid, p_action text, p_target text,
                                      p_ip text, p_user_agent text, p_details jsonb)
returns void
language sql volatile security definer set search_path = public, pg_temp as $$
  insert into audit_event (org_id, actor_user_id, action, target, ip, user_agent, details)
  select p_org_id, p_actor, p_action, coalesce(p_target, ''), coalesce(p_ip, ''),
         coalesce(p_user_agent, ''), coalesce(p_details, '{}')
   where p_org_id is null or exists (select from organization where org_id = p_org_id)
$$;

revoke all on all functions in schema platform from public;
grant execute on all functions in schema platform to tenantry_app;
