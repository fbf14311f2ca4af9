-- An org's resources in Redis, NATS and ClickHouse are made by the product engine, as steps of
-- the built-in `resources` product: a step (and a ledger row) may now be of kind 'store'.
alter table product_step drop constraint product_step_kind_check;
alter table product_step add constraint product_step_kind_check
  check (kind in ('entity', 'skill', 'agent', 'guardrail', 'knowledge', 'config', 'store'));
