-- What the Organizations page shows: a subscription record per org (edited by hand until Stripe
-- sync lands), installed products, the template an org was made from, and a member count kept
-- with the memberships so the table can sort by it at 10,000 orgs.

alter table organization
  add column template text not null default '',
  add column member_count integer not null default 0;

update organization o
   set member_count = (select count(*) from membership m where m.org_id = o.org_id);

create function membership_count() returns trigger
language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    update organization set member_count = member_count + 1 where org_id = new.org_id;
  elsif tg_op = 'DELETE' then
    update organization set member_count = member_count - 1 where org_id = old.org_id;
  end if;
  return null;
end $$;
create trigger membership_count after insert or delete on membership
  for each row execute function membership_count();

create table subscription (
  org_id                  uuid primary key references organization (org_id) on delete cascade,
  plan_name               text not null default '',
  seats                   integer not null default 1,
  platform                text not null default 'custom',
  status                  text not null default 'active',
  stripe_customer_id      text,
  stripe_subscription_id  text,
  trial_end               timestamptz,
  current_period_end      timestamptz,
  cancelled_at            timestamptz,
  cancel_reason           text not null default '',
  grace_period_end        timestamptz,
  created_at              timestamptz not null default now(),
  updated_at              timestamptz not null default now(),
  constraint subscription_seats_check check (seats between 0 and 1000000),
  constraint subscription_platform_check check (platform in ('stripe', 'custom')),
  constraint subscription_status_check check (status in ('active', 'trialing', 'past_due', 'cancelled')),
  constraint subscription_plan_name_check check (plan_name ~ '^[a-z0-9_.-]{0,60}$')
);
create index subscription_status_idx on subscription (org_id, status);

alter table subscription enable row level security;
alter table subscription force row level security;
create policy subscription_tenant on subscription
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

-- Products installed in an org (installation jobs come with the products issue).
create table org_product (
  org_id        uuid not null references organization (org_id) on delete restrict,
  product       text not null,
  status        text not null default 'installed',
  installed_at  timestamptz not null default now(),
  primary key (org_id, product),
  constraint org_product_product_check check (product in
    ('eloquent', 'aafya', 'done', 'fahim', 'shop_assist', 'crm', 'consumer', 'custom')),
  constraint org_product_status_check check (status in ('installing', 'installed', 'failed'))
);

alter table org_product enable row level security;
alter table org_product force row level security;
create policy org_product_tenant on org_product
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

-- Sorting the Organizations table on the server.
create index organization_created_idx on organization (created_at desc, org_number desc);

-- One page of the Organizations table. p_member_of null means every org: the server passes null
-- only with a superadmin proof; anyone else sees the orgs they own or administer.
create function platform.org_page(
  p_member_of uuid, p_search text, p_product text, p_sort text, p_desc boolean,
  p_limit integer, p_offset integer)
returns table (org_id uuid, org_number bigint, name text, slug text, primary_domain text,
               product text, status text, template text, member_count integer,
               subscription_status text, plan_name text, installed_products bigint,
               created_at timestamptz, total bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  with visible as (
    select o.*
      from organization o
     where (p_member_of is null
            or exists (select from membership m
                        where m.org_id = o.org_id and m.user_id = p_member_of
                          and m.role_name in ('owner', 'admin')))
       and (p_product is null or o.product = p_product)
       and (p_search is null
            or o.name ilike '%' || p_search || '%'
            or o.slug ilike '%' || p_search || '%'
            or o.primary_domain ilike '%' || p_search || '%')
  ), rows as (
    select v.org_id, v.org_number, v.name, v.slug, v.primary_domain, v.product, v.status,
           v.template, v.member_count, s.status as subscription_status, s.plan_name,
           (select count(*) from org_product p where p.org_id = v.org_id) as installed_products,
           v.created_at
      from visible v left join subscription s on s.org_id = v.org_id
  )
  select r.*, count(*) over () as total
    from rows r
   order by
     case when not p_desc then case p_sort
       when 'id' then lpad(r.org_number::text, 20, '0')
       when 'title' then lower(r.name)
       when 'product' then r.product
       when 'status' then r.status
       when 'subscription' then coalesce(r.subscription_status, '~')
       when 'template' then r.template
       when 'products' then lpad(r.installed_products::text, 20, '0')
       when 'users' then lpad(r.member_count::text, 20, '0')
       when 'created' then to_char(r.created_at at time zone 'UTC', 'YYYYMMDDHH24MISSUS')
     end end asc,
     case when p_desc then case p_sort
       when 'id' then lpad(r.org_number::text, 20, '0')
       when 'title' then lower(r.name)
       when 'product' then r.product
       when 'status' then r.status
       when 'subscription' then coalesce(r.subscription_status, '~')
       when 'template' then r.template
       when 'products' then lpad(r.installed_products::text, 20, '0')
       when 'users' then lpad(r.member_count::text, 20, '0')
       when 'created' then to_char(r.created_at at time zone 'UTC', 'YYYYMMDDHH24MISSUS')
     end end desc,
     r.org_number
   limit p_limit offset p_offset
$$;

-- The summary cards over the same set of orgs.
create function platform.org_summary(p_member_of uuid)
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
                  where m.org_id = o.org_id and m.user_id = p_member_of
                    and m.role_name in ('owner', 'admin'))
$$;

revoke all on function platform.org_page(uuid, text, text, text, boolean, integer, integer) from public;
revoke all on function platform.org_summary(uuid) from public;
grant execute on function platform.org_page(uuid, text, text, text, boolean, integer, integer) to tenantry_app;
grant execute on function platform.org_summary(uuid) to tenantry_app;
