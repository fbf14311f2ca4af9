-- A verified domain stays proven only while its TXT record holds the token: each node
-- re-checks verified domains daily, and one whose record has been missing for 7 daily checks in
-- a row fails (it stops routing), so a domain that changed hands does not keep routing to the
-- org that once proved it. A lookup that fails (the nameserver down) counts for nothing.
alter table org_domain add column recheck_failures integer not null default 0;
create index org_domain_verified_checked on org_domain (checked_at) where status = 'verified';

create or replace function platform.domains_due(p_after_secs integer, p_limit integer)
returns table (org_id uuid, domain_id uuid)
language sql stable security definer set search_path = public, pg_temp as $$
  select d.org_id, d.domain_id from org_domain d
   where (d.status = 'pending'
          and (d.checked_at is null or d.checked_at < now() - make_interval(secs => p_after_secs)))
      or (d.status = 'verified' and (d.checked_at is null or d.checked_at < now() - interval '1 day'))
   order by d.checked_at nulls first
   limit p_limit
$$;
