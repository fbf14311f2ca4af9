-- 1. The Users page's permission editor offers each membership's role as a choice among its org's
-- roles, so platform.user_page now lists them with every membership (built-in roles first, as
-- the Roles tab orders them).
create or replace function platform.user_page(p_user_id uuid, p_search text, p_status text,
                                              p_limit integer, p_offset integer)
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
                     'member_seq', m.member_seq, 'pages', coalesce(m.pages, r.pages),
                     'roles', (select jsonb_agg(a.role_name
                                                order by not a.builtin, a.created_at, a.role_name)
                                 from org_role a where a.org_id = m.org_id))
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

-- 2. A user bound to a client organization manages only that one, even where it holds an
-- admin role elsewhere: the Organizations page and its cards follow the binding as the gate does.
create or replace function platform.org_page(
  p_member_of uuid, p_search text, p_product text, p_sort text, p_desc boolean,
  p_limit integer, p_offset integer)
returns table (org_id uuid, org_number bigint, name text, slug text, primary_domain text,
               product text, status text, template text, member_count integer,
               subscription_status text, plan_name text, installed_products bigint,
               created_at timestamptz, total bigint)
language plpgsql stable security definer set search_path = public, pg_temp as $$
declare
  -- Only these expressions are ever spliced into the query: p_sort picks one, never supplies it.
  sort_expr text := case p_sort
    when 'id' then 'o.org_number'
    when 'title' then 'lower(o.name)'
    when 'product' then 'o.product'
    when 'status' then 'o.status'
    when 'subscription' then 's.status'
    when 'template' then 'o.template'
    when 'products' then 'o.product_count'
    when 'users' then 'o.member_count'
    else 'o.created_at'
  end;
  direction text := case when p_desc then 'desc nulls last' else 'asc nulls last' end;
  filters text := '(($1::uuid is null
                     or exists (select from membership m
                                  join app_user u on u.user_id = m.user_id
                                 where m.org_id = o.org_id and m.user_id = $1
                                   and m.role_name in (''owner'', ''admin'')
                                   and (u.bound_org_id is null or u.bound_org_id = o.org_id)))
                    and ($2::text is null or o.name ilike ''%'' || $2 || ''%''
                         or o.slug ilike ''%'' || $2 || ''%''
                         or o.primary_domain ilike ''%'' || $2 || ''%'')
                    and ($3::text is null or o.product = $3))';
  matching bigint;
begin
  execute 'select count(*) from organization o where ' || filters
    into matching using p_member_of, p_search, p_product;
  return query execute format(
    'select o.org_id, o.org_number, o.name, o.slug, o.primary_domain, o.product, o.status,
            o.template, o.member_count, s.status, s.plan_name, o.product_count::bigint,
            o.created_at, $4
       from organization o left join subscription s on s.org_id = o.org_id
      where %s
      order by %s %s, o.org_number %s
      limit $5 offset $6',
    filters, sort_expr, direction, case when p_desc then 'desc' else 'asc' end)
    using p_member_of, p_search, p_product, matching, p_limit, p_offset;
end $$;

create or replace function platform.org_summary(p_member_of uuid)
returns table (total bigint, active bigint, trialing bigint, past_due bigint, cancelled bigint,
               no_subscription bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  select count(*),
         count(*) filter (where s.status = 'active'),
         count(*) filter (where s.status = 'trialing'),
         count(*) filter (where s.status = 'past_due'),
         count(*) filter (where s.status = 'cancelled'),
         count(*) filter (where s.org_id is null)
    from organization o left join subscription s on s.org_id = o.org_id
   where p_member_of is null
      or exists (select from membership m
                   join app_user u on u.user_id = m.user_id
                  where m.org_id = o.org_id and m.user_id = p_member_of
                    and m.role_name in ('owner', 'admin')
                    and (u.bound_org_id is null or u.bound_org_id = o.org_id))
$$;
