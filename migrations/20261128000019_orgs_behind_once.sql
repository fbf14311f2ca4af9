-- An upgrade is planned once: the orgs behind the catalog leave out those with a run of the
-- product still to end (its own upgrade, or a failed install) and those whose upgrade to this
-- version an admin stopped (it would only fail again; a newer version is planned afresh).
create or replace function platform.orgs_behind(p_product text, p_version integer)
returns table (org_id uuid, version integer)
language sql stable security definer set search_path = public, pg_temp as $$
  select p.org_id, p.version from org_product p
   where p.product = p_product and p.version < p_version
     and not exists (
       select from product_run r
        where r.org_id = p.org_id and r.product = p_product
          and (r.status in ('pending', 'running', 'failed')
               or (r.status = 'stopped' and r.version = p_version)))
   order by p.org_id
$$;
