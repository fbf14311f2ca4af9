-- Knowledge: entries partitioned per org, searched with PostgreSQL full text. Entries the
-- platform owner's org marks `shared` are readable by every org (its agents and editors) and
-- editable only in the owner org.
alter table organization add column is_platform_owner boolean not null default false;
create unique index organization_one_platform_owner on organization (is_platform_owner)
  where is_platform_owner;

-- The owner org, for the policies below (organization itself is scoped to the current org).
create function platform.owner_org_id()
returns uuid
language sql stable security definer set search_path = public, pg_temp as $$
  select org_id from organization where is_platform_owner
$$;

create function platform.mark_platform_owner(p_org_id uuid)
returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  update organization set is_platform_owner = false where is_platform_owner and org_id <> p_org_id;
  update organization set is_platform_owner = true where org_id = p_org_id;
  return found;
end $$;

create table knowledge_entry (
  entry_id   uuid primary key default gen_random_uuid(),
  org_id     uuid not null references organization (org_id) on delete cascade,
  title      text not null check (btrim(title) <> '' and length(title) <= 300),
  body       text not null default '' check (length(body) <= 100000),
  tags       text[] not null default '{}' check (cardinality(tags) <= 20),
  source     text not null default '' check (length(source) <= 500),
  visibility text not null default 'organization'
             check (visibility in ('private', 'organization', 'team', 'public')),
  shared     boolean not null default false,
  created_by uuid references app_user (user_id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  search     tsvector not null default ''
);
create index knowledge_entry_org_idx on knowledge_entry (org_id, updated_at desc);
create index knowledge_entry_search_idx on knowledge_entry using gin (search);
create index knowledge_entry_shared_idx on knowledge_entry (org_id) where shared;

-- Title and tags weigh more than the body.
create function knowledge_entry_search() returns trigger
language plpgsql as $$
begin
  new.search := setweight(to_tsvector('english', new.title), 'A')
             || setweight(to_tsvector('english', array_to_string(new.tags, ' ')), 'A')
             || setweight(to_tsvector('english', new.body), 'B');
  return new;
end $$;
create trigger knowledge_entry_search before insert or update of title, body, tags
  on knowledge_entry for each row execute function knowledge_entry_search();

alter table knowledge_entry enable row level security;
alter table knowledge_entry force row level security;
-- Reading: the current org's entries, and the owner org's shared ones.
create policy knowledge_entry_read on knowledge_entry for select
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid)
         or (shared and org_id = (select platform.owner_org_id())));
-- Writing: the current org's entries only.
create policy knowledge_entry_insert on knowledge_entry for insert
  with check (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
create policy knowledge_entry_update on knowledge_entry for update
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid))
  with check (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
create policy knowledge_entry_delete on knowledge_entry for delete
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

revoke all on function platform.owner_org_id() from public;
revoke all on function platform.mark_platform_owner(uuid) from public;
grant execute on function platform.owner_org_id() to tenantry_app;
grant execute on function platform.mark_platform_owner(uuid) to tenantry_app;
