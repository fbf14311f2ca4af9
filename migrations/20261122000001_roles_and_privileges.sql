-- Privileges of the runtime role. Migrations run as tenantry_owner, which owns every object;
-- the runtime role owns nothing, cannot bypass row-level security, and gets data access only.

do $$
begin
  if not exists (select from pg_roles where rolname = 'tenantry_app') then
    raise exception 'role tenantry_app is missing: create it before migrating (see README, "Configuration")';
  end if;
end $$;

grant usage on schema public to tenantry_app;

-- Everything the owner creates in public from now on is usable, not alterable, by the runtime role.
alter default privileges in schema public
  grant select, insert, update, delete on tables to tenantry_app;
alter default privileges in schema public
  grant usage, select on sequences to tenantry_app;

-- The migration ledger predates this migration; readiness checks read it.
grant select on _sqlx_migrations to tenantry_app;
