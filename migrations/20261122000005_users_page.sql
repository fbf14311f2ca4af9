-- The Users page across orgs, for superadmins (the server calls these only with a superadmin
-- proof; org admins read their own org's members through the tenant path instead).

create index app_user_name_idx on app_user (lower(name));

-- One page of users with their memberships.
create function platform.user_page(p_user_id uuid, p_search text, p_status text, p_limit integer,
                                   p_offset integer)
returns table (user_id uuid, email text, name text, status text, is_superadmin boolean,
               bound_org_id uuid, last_login_at timestamptz, created_at timestamptz,
               memberships jsonb, total bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  with matching as (
    select u.*
      from app_user u
     where (p_user_id is null or u.user_id = p_user_id)
       and (p_status is null or u.status = p_status)
       and (p_search is null or u.email ilike '%' || p_search || '%'
            or u.name ilike '%' || p_search || '%')
  ), counted as (select count(*) as total from matching)
  select u.user_id, u.email, u.name, u.status, u.is_superadmin, u.bound_org_id,
         u.last_login_at, u.created_at,
         coalesce((select jsonb_agg(jsonb_build_object(
                     'org_id', o.org_id, 'org_number', o.org_number, 'org_name', o.name,
                     'org_active', o.status = 'active', 'role', m.role_name,
                     'member_seq', m.member_seq, 'pages', coalesce(m.pages, r.pages))
                     order by o.name)
                     from membership m
                     join organization o on o.org_id = m.org_id
                     join org_role r on r.org_id = m.org_id and r.role_name = m.role_name
                    where m.user_id = u.user_id), '[]'::jsonb),
         c.total
    from matching u, counted c
   order by lower(u.name), u.email
   limit p_limit offset p_offset
$$;

-- A superadmin's edit of any user's profile, status and client-org binding. The binding must
-- name an org the user belongs to.
create function platform.admin_update_user(p_user_id uuid, p_name text, p_email text,
                                           p_status text, p_bound_org_id uuid)
returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  if p_bound_org_id is not null and not exists (
       select from membership where org_id = p_bound_org_id and user_id = p_user_id) then
    raise exception 'a user can only be bound to an organization it belongs to'
      using errcode = 'check_violation', constraint = 'app_user_bound_org_member';
  end if;
  update app_user
     set name = btrim(p_name), email = lower(btrim(p_email)), status = p_status,
         bound_org_id = p_bound_org_id, updated_at = now()
   where user_id = p_user_id;
  return found;
end $$;

revoke all on function platform.user_page(uuid, text, text, integer, integer) from public;
revoke all on function platform.admin_update_user(uuid, text, text, text, uuid) from public;
grant execute on function platform.user_page(uuid, text, text, integer, integer) to tenantry_app;
grant execute on function platform.admin_update_user(uuid, text, text, text, uuid) to tenantry_app;
