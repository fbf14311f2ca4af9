-- A node keeps the org read (`orgs/current_org`: the org, its subscription, its roles and their
-- member counts) of each org its callers act in, and answers it without a transaction while
-- two things hold, both confirmed by the database after the request arrived:
--
-- 1. The caller's access is what the node remembers: the stamp of `platform.access_state`
--    (migration 30), as every answer from memory is checked. Changes made with the triggers
--    off are caught by it, since it reads the facts, not the announcements.
-- 2. The org's data is what the node read: `organization.data_version`, raised in the same
--    transaction as any change to what the read shows.
--
-- `platform.access_confirm` checks both for many requests in one statement: a node sends the
-- requests that arrived while its previous confirmation was out together, so the database
-- does one statement for many requests instead of a transaction for each.

alter table organization add column data_version bigint not null default 0;

-- Any change to the org's row raises it (the row triggers below change the row for the rows
-- that hang off it; `member_count` and `product_count` already move with theirs).
create function platform.org_data_version_raise() returns trigger
language plpgsql as $$
begin
  new.data_version := old.data_version + 1;
  return new;
end $$;
create trigger organization_data_version before update on organization
  for each row execute function platform.org_data_version_raise();

-- `updated_at` is the version the org's edit form saves against (a save over a newer one is
-- refused): it moves when the org's own details change, no longer when only its counters or
-- its data version do (a member added, a subscription saved, would refuse an open form).
create or replace function organization_keep_slug() returns trigger
language plpgsql as $$
declare
  details organization;
begin
  if new.slug <> old.slug then
    raise exception 'the slug of an organization cannot be changed'
      using errcode = 'check_violation', constraint = 'organization_slug_immutable';
  end if;
  details := new;
  details.member_count := old.member_count;
  details.product_count := old.product_count;
  details.data_version := old.data_version;
  details.updated_at := old.updated_at;
  if details is distinct from old then
    new.updated_at := now();
  end if;
  return new;
end $$;

-- A change to the org's subscription, roles or memberships: its row's version goes up, as the
-- owner (whatever org the writer's transaction is scoped to: a user's deletion removes their
-- memberships in every org).
create function platform.org_data_changed() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  org uuid;
begin
  if tg_op = 'DELETE' then org := old.org_id; else org := new.org_id; end if;
  update organization set data_version = data_version + 1 where org_id = org;
  if tg_op = 'UPDATE' and old.org_id is distinct from new.org_id then
    update organization set data_version = data_version + 1 where org_id = old.org_id;
  end if;
  return null;
end $$;
create trigger subscription_data_version after insert or update or delete on subscription
  for each row execute function platform.org_data_changed();
create trigger org_role_data_version after insert or update or delete on org_role
  for each row execute function platform.org_data_changed();
create trigger membership_data_version after insert or update or delete on membership
  for each row execute function platform.org_data_changed();

-- The counters the read shows move as the owner too, for the same reason.
alter function membership_count() security definer set search_path = public, pg_temp;
alter function org_product_count() security definer set search_path = public, pg_temp;

-- For each request (the i-th elements of the three arrays), in the same order: the stamp of
-- the session's access in the org (null: no live session) and the org's data version (null:
-- no such org). One snapshot for all of them.
create function platform.access_confirm(p_orgs uuid[], p_users uuid[], p_sessions uuid[],
                                        out stamp text, out data_version bigint)
returns setof record
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  return query
  select a.stamp, o.data_version
    from unnest(p_orgs, p_users, p_sessions) with ordinality as t(org_id, user_id, session_id, i)
    left join lateral platform.access_state(t.org_id, t.user_id, t.session_id) a on true
    left join organization o on o.org_id = t.org_id
   order by t.i;
end $$;
revoke all on function platform.access_confirm(uuid[], uuid[], uuid[]) from public;
grant execute on function platform.access_confirm(uuid[], uuid[], uuid[]) to tenantry_app;
