-- Whether any org's usage was priced with a model. Usage is tenant data behind row-level
-- security, so the superadmin's price editor (which acts in no org) cannot see it directly;
-- this answers the one question it needs, for every org, and nothing else.
create function platform.model_price_in_use(p_model text) returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
  select exists (select from usage_event where model = p_model)
$$;
revoke all on function platform.model_price_in_use(text) from public;
grant execute on function platform.model_price_in_use(text) to tenantry_app;
