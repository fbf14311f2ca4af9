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
  -- Every column but the counters (`member_seq` numbers the next member), the creator (set to
  -- null when that person is deleted), the version and `updated_at` itself. A column added
  -- later needs an equality operator for this comparison (not json, say).
  details := new;
  details.member_seq := old.member_seq;
  details.member_count := old.member_count;
  details.product_count := old.product_count;
  details.created_by := old.created_by;
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
-- Only as triggers: nobody may attach them to a table of their own (an org's schema role owns
-- its schema) and move another org's counters with the owner's rights. Triggers already made
-- keep working: the right to execute is checked when a trigger is created.
revoke all on function membership_count() from public;
revoke all on function org_product_count() from public;
revoke all on function platform.org_data_changed() from public;
revoke all on function platform.org_data_version_raise() from public;

-- The fingerprint of the facts an access rests on, in one place for `access_state` (one
-- request) and `access_confirm` (many). A plain SQL expression: inlined where it is used.
create function platform.access_stamp(p_user_status text, p_superadmin boolean,
                                      p_bound_org uuid, p_org_status text, p_role text,
                                      p_pages text[])
returns text
language sql stable as $$
  select encode(sha256(convert_to(concat_ws('|',
           p_user_status, p_superadmin::text, coalesce(p_bound_org::text, '-'),
           coalesce(p_org_status, '-'), coalesce(p_role, '-'),
           coalesce(array_to_string(p_pages, ','), '-')), 'UTF8')), 'hex')
$$;

-- The same answer as migration 31's, its stamp from `access_stamp`.
create or replace function platform.access_state(p_org uuid, p_user uuid, p_session uuid,
                                                 out stamp text, out user_status text,
                                                 out is_superadmin boolean, out bound_org_id uuid,
                                                 out org_status text, out role_name text,
                                                 out pages text[])
returns setof record
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  return query
  select platform.access_stamp(u.status, u.is_superadmin, u.bound_org_id, o.status,
                               m.role_name, coalesce(m.pages, r.pages)),
         u.status, u.is_superadmin, u.bound_org_id, o.status, m.role_name,
         coalesce(m.pages, r.pages)
    from session s
    join app_user u on u.user_id = s.user_id
    left join organization o on o.org_id = p_org
    left join membership m on m.org_id = p_org and m.user_id = p_user
    left join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
   where s.session_id = p_session and s.user_id = p_user
     and s.revoked_at is null and s.expires_at > now();
end
$$;

-- For each request (the i-th elements of the three arrays), in the same order: the stamp of
-- the session's access in the org (null: no live session) and the org's data version (null:
-- no such org). One statement and one snapshot for all of them: the executor starts once,
-- then each request is a few primary-key lookups (each a lateral subquery with `limit 1`, so
-- the planner keeps them lookups whatever it estimates the arrays hold).
create function platform.access_confirm(p_orgs uuid[], p_users uuid[], p_sessions uuid[],
                                        out stamp text, out data_version bigint)
returns setof record
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  return query
  select case when a.user_id is not null then
           platform.access_stamp(a.status, a.is_superadmin, a.bound_org_id, o.status,
                                 m.role_name, m.pages)
         end,
         o.data_version
    from unnest(p_orgs, p_users, p_sessions) with ordinality as t(org_id, user_id, session_id, i)
    left join lateral (
      select u.user_id, u.status, u.is_superadmin, u.bound_org_id
        from session s join app_user u on u.user_id = s.user_id
       where s.session_id = t.session_id and s.user_id = t.user_id
         and s.revoked_at is null and s.expires_at > now()
       limit 1) a on true
    left join lateral (
      select x.status, x.data_version from organization x where x.org_id = t.org_id
       limit 1) o on true
    left join lateral (
      select y.role_name, coalesce(y.pages, r.pages) as pages
        from membership y
        left join org_role r on r.org_id = y.org_id and r.role_name = y.role_name
       where y.org_id = t.org_id and y.user_id = t.user_id
       limit 1) m on true
   order by t.i;
end $$;
revoke all on function platform.access_confirm(uuid[], uuid[], uuid[]) from public;
grant execute on function platform.access_confirm(uuid[], uuid[], uuid[]) to tenantry_app;
