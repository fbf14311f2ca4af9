-- How many orgs' subscriptions are on a plan. Subscriptions are tenant data behind row-level
-- security, so the plan editor (a superadmin acting in no org) cannot count them directly; this
-- answers that one question and nothing else. A plan in use is never deleted: its orgs would
-- silently lose their limits.
create function platform.plan_in_use(p_plan text) returns bigint
language sql stable security definer set search_path = public, pg_temp as $$
  select count(*) from subscription where plan_name = p_plan
$$;
revoke all on function platform.plan_in_use(text) from public;
grant execute on function platform.plan_in_use(text) to tenantry_app;
