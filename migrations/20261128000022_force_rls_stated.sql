-- org_config, org_skill, product_run, product_step and product_artifact were made tenant tables
-- by platform.tenant_table() (migration 15), which enables AND forces row-level security and
-- adds the org policy. Stated here once more, as plain statements a reader (or a grep for
-- "force row level security") finds; each is a no-op on a database migrated before.
alter table org_config force row level security;
alter table org_skill force row level security;
alter table product_artifact force row level security;
alter table product_run force row level security;
alter table product_step force row level security;
