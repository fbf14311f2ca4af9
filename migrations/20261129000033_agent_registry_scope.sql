-- The registry as the Agents page shows it under a superadmin's org switcher: one org's agents
-- with those no org has (free to assign to it), only those no org has, or all of them (`p_org`
-- null and `p_unassigned` false). The
-- three-argument version stays for nodes of the previous release during a rolling deploy (below).
create function platform.agent_registry_in(p_search text, p_org uuid, p_unassigned boolean,
                                           p_limit integer, p_offset integer)
returns table (agent_id uuid, name text, email text, model text, status text, org_id uuid,
               org_name text, org_active boolean, created_at timestamptz, keys bigint,
               total bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  with matching as (
    select a.* from agent a
     where (p_search is null or a.name ilike '%' || p_search || '%'
            or a.email ilike '%' || p_search || '%' or a.model ilike '%' || p_search || '%')
       and (p_org is null or a.org_id = p_org or a.org_id is null)
       and (not p_unassigned or a.org_id is null)
  ), counted as (select count(*) as total from matching)
  select a.agent_id, a.name, a.email, a.model, a.status, a.org_id, o.name, o.status = 'active',
         a.created_at,
         (select count(*) from agent_key k where k.agent_id = a.agent_id and k.revoked_at is null),
         c.total
    from matching a cross join counted c left join organization o on o.org_id = a.org_id
   order by lower(a.name), a.email
   limit p_limit offset p_offset
$$;

revoke all on function platform.agent_registry_in(text, uuid, boolean, integer, integer)
  from public;
grant execute on function platform.agent_registry_in(text, uuid, boolean, integer, integer)
  to tenantry_app;

-- The previous release's registry, kept for its nodes, answers through the new one (one query).
create or replace function platform.agent_registry(p_search text, p_limit integer,
                                                   p_offset integer)
returns table (agent_id uuid, name text, email text, model text, status text, org_id uuid,
               org_name text, org_active boolean, created_at timestamptz, keys bigint,
               total bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  select * from platform.agent_registry_in(p_search, null, false, p_limit, p_offset)
$$;
