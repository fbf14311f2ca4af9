-- Products, part two: live progress and upgrades.
--
-- Live progress. Every change to a run's state (status, steps done, error, the worker holding
-- it) bumps its revision, which is the id of its Server-Sent Events (a browser that reconnects
-- with `Last-Event-ID` is sent the run again only if it changed), and notifies the channel
-- `product_run` with the run's id when the transaction commits (a rolled-back step notifies
-- nobody). Lease renewals change none of these and stay quiet.
alter table product_run add column revision bigint not null default 0;

create function product_run_changed() returns trigger
language plpgsql as $$
begin
  if tg_op = 'UPDATE' then
    if (new.status, new.done, new.error, new.lease_owner)
       is not distinct from (old.status, old.done, old.error, old.lease_owner) then
      return new;
    end if;
    new.revision := old.revision + 1;
  end if;
  perform pg_notify('product_run', new.run_id::text);
  return new;
end $$;
create trigger product_run_changed before insert or update on product_run
  for each row execute function product_run_changed();

-- Upgrades. A step may also change an artifact a product made in place: `alter` adds to a
-- table what a new version of its entity adds (columns, unique sets, indexes).
alter table product_step drop constraint product_step_op_check;
alter table product_step add constraint product_step_op_check
  check (op in ('create', 'alter', 'remove'));

-- The orgs that have `p_product` installed at a version below `p_version` (the ones an upgrade
-- must reach), with that version. Cross-org by nature (the upgrade serves every org); it
-- returns only keys and versions, and each upgrade is planned in the org's own scope.
create function platform.orgs_behind(p_product text, p_version integer)
returns table (org_id uuid, version integer)
language sql stable security definer set search_path = public, pg_temp as $$
  select p.org_id, p.version from org_product p
   where p.product = p_product and p.version < p_version
   order by p.org_id
$$;
revoke all on function platform.orgs_behind(text, integer) from public;
grant execute on function platform.orgs_behind(text, integer) to tenantry_app;

create index org_product_product_idx on org_product (product, version);
