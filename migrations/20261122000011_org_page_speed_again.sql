-- bench/orgs-page after migration 6: the summary cards went from p95 6.6 ms to 29.5 ms and the
-- slowest page from 22.7 ms to 36.6 ms, because the bound-org check made the "orgs the caller
-- administers" test a correlated subquery with a join, planned for every org even when a
-- superadmin asks for all of them. The caller's orgs are now one uncorrelated set, hashed once.
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
                     or o.org_id in (select m.org_id from membership m
                                       join app_user u on u.user_id = m.user_id
                                      where m.user_id = $1
                                        and m.role_name in (''owner'', ''admin'')
                                        and (u.bound_org_id is null or u.bound_org_id = m.org_id)))
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
      or o.org_id in (select m.org_id from membership m
                        join app_user u on u.user_id = m.user_id
                       where m.user_id = p_member_of
                         and m.role_name in ('owner', 'admin')
                         and (u.bound_org_id is null or u.bound_org_id = m.org_id))
$$;
