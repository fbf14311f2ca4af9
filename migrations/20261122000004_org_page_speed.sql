-- The Organizations page at 10,000 orgs (bench/orgs-page): sort on plain columns so PostgreSQL
-- can take the top rows without computing and sorting text keys for every org, keep the
-- installed-products count with the products like the member count, and count the matching rows
-- once instead of with a window over the joined set.

alter table organization add column product_count integer not null default 0;

update organization o
   set product_count = (select count(*) from org_product p where p.org_id = o.org_id);

create function org_product_count() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    update organization set product_count = product_count + 1 where org_id = new.org_id;
  elsif tg_op = 'DELETE' then
    update organization set product_count = product_count - 1 where org_id = old.org_id;
  end if;
  return null;
end $$;
create trigger org_product_count after insert or delete on org_product
  for each row execute function org_product_count();

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
                                 where m.org_id = o.org_id and m.user_id = $1
                                   and m.role_name in (''owner'', ''admin'')))
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

-- Top rows by status without sorting every org (by number and name the unique indexes serve).
create index organization_status_idx on organization (status, org_number);
