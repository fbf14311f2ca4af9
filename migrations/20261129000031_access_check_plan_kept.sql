-- `platform.access_state` in PL/pgSQL, so that each connection plans its join once.
--
-- A SQL function with a `set search_path` clause (every security-definer one here) is never
-- inlined, and PostgreSQL before 18 parses, analyses and plans its body again on every call.
-- For `access_state`, a join of four tables that every request answered from a node's memory
-- runs through `access_check`, that planning was half of PostgreSQL's time under `bench/load`'s
-- authenticated read (measured 2026-11-29 with perf). PL/pgSQL keeps the plan of each of its
-- statements for the life of the connection. Same signature, same answer.
create or replace function platform.access_state(p_org uuid, p_user uuid, p_session uuid,
                                                 out stamp text, out user_status text,
                                                 out is_superadmin boolean, out bound_org_id uuid,
                                                 out org_status text, out role_name text,
                                                 out pages text[])
returns setof record
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  return query
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
     and s.revoked_at is null and s.expires_at > now();
end
$$;
