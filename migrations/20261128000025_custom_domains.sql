-- Custom domains: an org claims domains; each is proven by a DNS TXT record at
-- `_tenantry-challenge.<domain>` holding the domain's token. A claim is pending until the record
-- is seen (verified) or for 30 days (failed). Only verified domains route requests, and a
-- verified domain belongs to one org. Any org may claim a domain that is still unproven: the
-- first to prove it gets it.
create table org_domain (
  org_id         uuid not null references organization (org_id) on delete cascade,
  domain_id      uuid not null default gen_random_uuid(),
  domain         text not null,
  status         text not null default 'pending',
  -- The TXT record's value. Not a secret (it is published in DNS), only unguessable, so that
  -- seeing it proves the org's admin controls the domain's zone.
  token          text not null,
  created_at     timestamptz not null default now(),
  created_by     uuid references app_user (user_id) on delete set null,
  checked_at     timestamptz,
  -- What the last lookup found, in words, for the admin (null before the first).
  check_result   text,
  verified_at    timestamptz,
  failed_at      timestamptz,
  primary key (org_id, domain_id),
  constraint org_domain_status_check check (status in ('pending', 'verified', 'failed')),
  constraint org_domain_domain_check check (domain = lower(domain) and domain <> ''
                                            and length(domain) <= 253 and domain not like '%.'),
  constraint org_domain_token_check check (token ~ '^tenantry-verify-[0-9a-f]{32}$'),
  constraint org_domain_verified_check check ((status = 'verified') = (verified_at is not null)),
  constraint org_domain_org_domain_key unique (org_id, domain)
);
-- A verified domain routes to exactly one org.
create unique index org_domain_verified_key on org_domain (domain) where status = 'verified';
create index org_domain_pending on org_domain (checked_at nulls first) where status = 'pending';
select platform.tenant_table('org_domain');
alter table org_domain force row level security;

-- Routing by custom domain: verified domains only (it was the org's primary domain, which
-- anyone could type). An org's existing primary domain becomes a pending claim, so its admins
-- see what to publish to keep routing by it.
create or replace function platform.org_by_domain(p_domain text)
returns table (org_id uuid, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.status
    from org_domain d join organization o on o.org_id = d.org_id
   where d.domain = lower(p_domain) and d.status = 'verified'
$$;

insert into org_domain (org_id, domain, token)
select org_id, lower(primary_domain),
       'tenantry-verify-' || substr(md5(random()::text || clock_timestamp()::text || org_id::text), 1, 32)
  from organization
 where primary_domain is not null and primary_domain <> ''
   and primary_domain !~ '[^a-zA-Z0-9.-]' and primary_domain not like '%.'
   and length(primary_domain) <= 233
on conflict do nothing;

-- Every org's domain claims, and its primary domain (status 'primary'), for the deploy-time
-- check (`server check-domains`, which asks the routing function about each) and the isolation
-- report. Read-only; answers what an org's domains are, never their tokens.
drop function platform.org_domains();
create function platform.org_domains()
returns table (org_id uuid, org_name text, domain text, status text)
language sql stable security definer set search_path = public, pg_temp as $$
  select * from (
    select d.org_id, o.name, d.domain, d.status
      from org_domain d join organization o on o.org_id = d.org_id
    union all
    select o.org_id, o.name, lower(o.primary_domain), 'primary'
      from organization o
     where o.primary_domain is not null and o.primary_domain <> ''
  ) claims
  order by 3, 1
$$;
revoke all on function platform.org_domains() from public;
grant execute on function platform.org_domains() to tenantry_app;

-- Pending claims whose last lookup is older than `p_after_secs` (never-checked first), for the
-- background checker on each node: it then checks each inside the org's own scope.
create function platform.domains_due(p_after_secs integer, p_limit integer)
returns table (org_id uuid, domain_id uuid)
language sql stable security definer set search_path = public, pg_temp as $$
  select d.org_id, d.domain_id from org_domain d
   where d.status = 'pending'
     and (d.checked_at is null or d.checked_at < now() - make_interval(secs => p_after_secs))
   order by d.checked_at nulls first
   limit p_limit
$$;
revoke all on function platform.domains_due(integer, integer) from public;
grant execute on function platform.domains_due(integer, integer) to tenantry_app;

-- Domains claimed in ways that break routing: verified by more than one org (the unique index
-- forbids it, so only a restore, a merge or a hand edit gets there), or verified although the
-- base domain covers it (requests there route by subdomain). For the deploy-time check and the
-- superadmins' banner: one query, whatever the number of orgs.
create function platform.domain_conflicts(p_base_domain text)
returns table (domain text, kind text, org_ids uuid[], org_names text[])
language sql stable security definer set search_path = public, pg_temp as $$
  select d.domain, 'duplicate', array_agg(d.org_id order by o.name, d.org_id),
         array_agg(o.name order by o.name, d.org_id)
    from org_domain d join organization o on o.org_id = d.org_id
   where d.status = 'verified'
   group by d.domain having count(*) > 1
  union all
  select d.domain, 'shadowed', array[d.org_id], array[o.name]
    from org_domain d join organization o on o.org_id = d.org_id
   where d.status = 'verified'
     and (d.domain = p_base_domain or right(d.domain, length(p_base_domain) + 1) = '.' || p_base_domain)
  order by 1, 2
$$;
revoke all on function platform.domain_conflicts(text) from public;
grant execute on function platform.domain_conflicts(text) to tenantry_app;
