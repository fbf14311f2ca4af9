-- Each node's background round takes the claims it checks: a short lease on each, so two
-- nodes never look the same domain up in the same round (the second's answer was thrown away).
alter table org_domain add column check_lease_until timestamptz;

drop function platform.domains_due(integer, integer);
create function platform.domains_due(p_after_secs integer, p_limit integer)
returns table (org_id uuid, domain_id uuid)
language sql volatile security definer set search_path = public, pg_temp as $$
  update org_domain d set check_lease_until = now() + interval '1 minute'
    from (select c.org_id, c.domain_id from org_domain c
           where ((c.status = 'pending'
                   and (c.checked_at is null
                        or c.checked_at < now() - make_interval(secs => p_after_secs)))
                  or (c.status = 'verified'
                      and (c.checked_at is null or c.checked_at < now() - interval '1 day')))
             and (c.check_lease_until is null or c.check_lease_until < now())
           order by c.checked_at nulls first
           limit p_limit
           for update skip locked) due
   where d.org_id = due.org_id and d.domain_id = due.domain_id
  returning d.org_id, d.domain_id
$$;
revoke all on function platform.domains_due(integer, integer) from public;
grant execute on function platform.domains_due(integer, integer) to tenantry_app;
