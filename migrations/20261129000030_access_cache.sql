-- Each node keeps what it has verified of a session (the person, and what they hold in each
-- org they act in) so that a request need not read it again. Two things keep that memory honest:
--
-- 1. `platform.access_state` gives the facts the gate's answer rests on and a fingerprint of
--    them (`stamp`), read in one statement. A node remembers the answer with the stamp, and every request it answers from memory first asks
--    `platform.access_check`, in the same round trip as its BEGIN: if anything changed (the
--    session revoked or expired, the person disabled or no longer a superadmin, the org
--    disabled, the membership or its role's pages changed), the check fails and the node asks
--    again from the start. Memory never allows what the database would refuse.
-- 2. Triggers announce such changes on the `tenantry_access` channel, so every node forgets
--    them at once and its next request does not have to fail the check first.

create function platform.access_state(p_org uuid, p_user uuid, p_session uuid,
                                       out stamp text, out user_status text,
                                       out is_superadmin boolean, out bound_org_id uuid,
                                       out org_status text, out role_name text,
                                       out pages text[])
returns setof record
language sql stable security definer set search_path = public, pg_temp as $$
  select encode(sha256(convert_to(concat_ws('|',
           u.status, u.is_superadmin::text, coalesce(u.bound_org_id::text, '-'),
           coalesce(o.status, '-'), coalesce(m.role_name, '-'),
           coalesce(array_to_string(coalesce(m.pages, r.pages), ','), '-')), 'UTF8')), 'hex'),
         u.status, u.is_superadmin, u.bound_org_id, o.status, m.role_name,
         coalesce(m.pages, r.pages)
    from session s
    join app_user u on u.user_id = s.user_id
    left join organization o on o.org_id = p_org
    left join membership m on m.org_id = p_org and m.user_id = p_user
    left join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
   where s.session_id = p_session and s.user_id = p_user
     and s.revoked_at is null and s.expires_at > now()
$$;
revoke all on function platform.access_state(uuid, uuid, uuid) from public;
grant execute on function platform.access_state(uuid, uuid, uuid) to tenantry_app;

-- Raises `TNSTL` unless the session's access in the org is still what `p_stamp` says.
create function platform.access_check(p_org uuid, p_user uuid, p_session uuid, p_stamp text)
returns void
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  if (select a.stamp from platform.access_state(p_org, p_user, p_session) a)
     is distinct from p_stamp then
    raise exception 'the session''s access changed' using errcode = 'TNSTL';
  end if;
end
$$;
revoke all on function platform.access_check(uuid, uuid, uuid, text) from public;
grant execute on function platform.access_check(uuid, uuid, uuid, text) to tenantry_app;

-- The announcements: `session:<id>`, `user:<id>`, `org:<id>`, `member:<org>:<user>`.
create function platform.announce_access_change() returns trigger
language plpgsql as $$
declare
  r record;
  what text;
begin
  if tg_op = 'DELETE' then r := old; else r := new; end if;
  if tg_table_name = 'session' then
    what := 'session:' || r.session_id;
  elsif tg_table_name = 'app_user' then
    what := 'user:' || r.user_id;
  elsif tg_table_name in ('organization', 'org_role') then
    what := 'org:' || r.org_id;
  else
    what := 'member:' || r.org_id || ':' || r.user_id;
  end if;
  perform pg_notify('tenantry_access', what);
  return null;
end
$$;

create trigger session_access_change after update of revoked_at, expires_at or delete on session
  for each row execute function platform.announce_access_change();
create trigger app_user_access_change
  after update of status, is_superadmin, bound_org_id or delete on app_user
  for each row execute function platform.announce_access_change();
create trigger organization_access_change after update of status or delete on organization
  for each row execute function platform.announce_access_change();
create trigger org_role_access_change after update of pages or delete on org_role
  for each row execute function platform.announce_access_change();
create trigger membership_access_change after insert or update or delete on membership
  for each row execute function platform.announce_access_change();

-- The person behind a live session, with what a page shows of them (their email and name), in
-- the one statement a page's session check takes. It replaces `platform.session_principal`,
-- which stays for nodes of the previous release during a rolling deploy (drop it later).
create function platform.session_person(p_session uuid, p_user uuid,
                                        out status text, out is_superadmin boolean,
                                        out bound_org_id uuid, out email text, out name text)
returns setof record
language sql stable security definer set search_path = public, pg_temp as $$
  select u.status, u.is_superadmin, u.bound_org_id, u.email, u.name
    from session s join app_user u on u.user_id = s.user_id
   where s.session_id = p_session and s.user_id = p_user
     and s.revoked_at is null and s.expires_at > now()
$$;
revoke all on function platform.session_person(uuid, uuid) from public;
grant execute on function platform.session_person(uuid, uuid) to tenantry_app;
