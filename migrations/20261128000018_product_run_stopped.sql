-- A failed upgrade can be stopped where it is: what its steps already changed stays (nothing
-- is undone), the org keeps the version it had, and the product is free to be uninstalled or
-- upgraded to a later version.
alter table product_run drop constraint product_run_status_check;
alter table product_run add constraint product_run_status_check
  check (status in ('pending', 'running', 'succeeded', 'failed', 'rolled_back', 'stopped'));
