-- Billing, usage and quotas, LLM keys, and Stripe sync.
--
-- Money is exact: rates are integer cents, model prices integer micro-dollars per million
-- tokens, and costs numeric micro-dollars (a token count times a price, divided by a million,
-- has at most six decimals). Nothing here is a float.

-- Model prices (platform settings). A price applies from its date until the next one of the
-- same model, so a price change never rewrites a past month.
create table model_price (
  model                  text not null check (model ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$'),
  effective_from         date not null,
  input_micros_per_mtok  bigint not null check (input_micros_per_mtok between 0 and 1000000000000),
  output_micros_per_mtok bigint not null check (output_micros_per_mtok between 0 and 1000000000000),
  created_at             timestamptz not null default now(),
  primary key (model, effective_from)
);

-- Plans and their allowances; null means no limit. An org's plan is its subscription's
-- plan_name; an org without one has no limits.
create table plan (
  plan_name            text primary key check (plan_name ~ '^[a-z0-9_.-]{1,60}$'),
  max_agents           integer check (max_agents >= 0),
  max_seats            integer check (max_seats >= 0),
  max_storage_bytes    bigint check (max_storage_bytes >= 0),
  max_tokens_per_month bigint check (max_tokens_per_month >= 0)
);
insert into plan values
  ('free', 2, 5, 10485760, 1000000),
  ('pro_monthly', 25, 50, 1073741824, 100000000),
  ('enterprise', null, null, null, null);

-- An org's commercial account: its default rate, its LLM-key policy, the allowance counters of
-- the current period, and the last month whose billing records are frozen. One row per org,
-- made with the org; the counters are written only by the triggers below.
create table org_account (
  org_id              uuid primary key references organization (org_id) on delete cascade,
  default_rate_cents  bigint not null default 0 check (default_rate_cents between 0 and 100000000000),
  allow_user_llm_keys boolean not null default true,
  period_start        date not null default date_trunc('month', now())::date,
  tokens_used         bigint not null default 0,
  storage_bytes       bigint not null default 0,
  closed_through      date
);
insert into org_account (org_id, storage_bytes)
  select o.org_id,
         coalesce((select sum(octet_length(k.title) + octet_length(k.body))
                     from knowledge_entry k where k.org_id = o.org_id), 0)
    from organization o;

create function org_account_create() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  insert into org_account (org_id) values (new.org_id) on conflict do nothing;
  return null;
end $$;
revoke all on function org_account_create() from public;
create trigger org_account_create after insert on organization
  for each row execute function org_account_create();

alter table org_account enable row level security;
alter table org_account force row level security;
create policy org_account_tenant on org_account
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke insert, update, delete on org_account from tenantry_app;
grant update (default_rate_cents, allow_user_llm_keys) on org_account to tenantry_app;

-- A per-agent rate within an org. Keyed by org as well, so an agent moved to another org does
-- not take its old client's price along.
create table agent_rate (
  org_id     uuid not null references organization (org_id) on delete cascade,
  agent_id   uuid not null references agent (agent_id) on delete cascade,
  rate_cents bigint not null check (rate_cents between 0 and 100000000000),
  updated_at timestamptz not null default now(),
  primary key (org_id, agent_id)
);
alter table agent_rate enable row level security;
alter table agent_rate force row level security;
create policy agent_rate_tenant on agent_rate
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

-- Usage as agents report it, append-only. The idempotency key makes a retried batch count once.
create table usage_event (
  org_id          uuid not null references organization (org_id) on delete cascade,
  idempotency_key text not null check (length(idempotency_key) between 1 and 200),
  agent_id        uuid not null,
  model           text not null,
  input_tokens    bigint not null check (input_tokens >= 0),
  output_tokens   bigint not null check (output_tokens >= 0),
  occurred_at     timestamptz not null,
  cost_micros     numeric not null default 0,
  received_at     timestamptz not null default now(),
  primary key (org_id, idempotency_key)
);
alter table usage_event enable row level security;
alter table usage_event force row level security;
create policy usage_event_tenant on usage_event
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke update, delete on usage_event from tenantry_app;

-- Usage per org, agent, model and month: what the Billing tab reads.
create table usage_month (
  org_id        uuid not null references organization (org_id) on delete cascade,
  month         date not null,
  agent_id      uuid not null,
  model         text not null,
  input_tokens  numeric not null default 0,
  output_tokens numeric not null default 0,
  cost_micros   numeric not null default 0,
  events        bigint not null default 0,
  primary key (org_id, month, agent_id, model)
);
alter table usage_month enable row level security;
alter table usage_month force row level security;
create policy usage_month_tenant on usage_month
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke insert, update, delete on usage_month from tenantry_app;

-- Frozen billing records of closed months: per org, per agent, per month.
create table billing_record (
  org_id        uuid not null references organization (org_id) on delete cascade,
  month         date not null,
  agent_id      uuid not null,
  agent_name    text not null,
  rate_cents    bigint not null,
  input_tokens  numeric not null,
  output_tokens numeric not null,
  cost_micros   numeric not null,
  closed_at     timestamptz not null default now(),
  primary key (org_id, month, agent_id)
);
alter table billing_record enable row level security;
alter table billing_record force row level security;
create policy billing_record_tenant on billing_record
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke insert, update, delete on billing_record from tenantry_app;

-- Allowance alerts: one per org, resource, period and threshold (80, 90, 100 %).
create table quota_alert (
  org_id       uuid not null references organization (org_id) on delete cascade,
  resource     text not null check (resource in ('agents', 'seats', 'storage', 'tokens')),
  period_start date not null,
  threshold    integer not null check (threshold in (80, 90, 100)),
  used         bigint not null,
  quota        bigint not null,
  fired_at     timestamptz not null default now(),
  primary key (org_id, resource, period_start, threshold)
);
alter table quota_alert enable row level security;
alter table quota_alert force row level security;
create policy quota_alert_tenant on quota_alert
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
revoke insert, update, delete on quota_alert from tenantry_app;

-- The org's allowances: its plan's limits, seats also capped by the subscription's seat count.
-- Runs with the caller's rights: under row-level security it reads only the caller's own org.
create function org_limits(p_org uuid,
                           out max_agents bigint, out max_seats bigint,
                           out max_storage_bytes bigint, out max_tokens_per_month bigint)
language sql stable set search_path = public, pg_temp as $$
  select p.max_agents, least(p.max_seats, s.seats), p.max_storage_bytes, p.max_tokens_per_month
    from organization o
    left join subscription s on s.org_id = o.org_id
    left join plan p on p.plan_name = s.plan_name
   where o.org_id = p_org
$$;

-- Takes `adding` of `resource` for an org whose account row the caller has locked, given what
-- was used before: refuses past the limit (SQLSTATE TQ001, with a message for people), and
-- fires the 80/90/100 % alerts the step crosses, once per period, into the audit log too.
create function quota_step(p_org uuid, p_resource text, p_period date, p_before bigint,
                           p_adding bigint, p_limit bigint)
returns void
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  after_use bigint := p_before + p_adding;
  t integer;
  label text := case p_resource when 'agents' then 'agent' when 'seats' then 'seat'
                                when 'storage' then 'storage' else 'monthly AI token' end;
  unit text := case p_resource when 'agents' then 'agents' when 'seats' then 'seats'
                               when 'storage' then 'bytes' else 'tokens' end;
begin
  if p_limit is null or p_adding <= 0 then
    return;
  end if;
  if after_use > p_limit then
    raise exception using errcode = 'TQ001',
      message = format('The %s allowance of this organization''s plan is used up: %s of %s %s used, and this needs %s more.',
                       label, p_before, p_limit, unit, p_adding),
      detail = p_resource;
  end if;
  foreach t in array array[80, 90, 100] loop
    if p_before * 100 < t::bigint * p_limit and after_use * 100 >= t::bigint * p_limit then
      insert into quota_alert (org_id, resource, period_start, threshold, used, quota)
        values (p_org, p_resource, p_period, t, after_use, p_limit)
        on conflict do nothing;
      if found then
        insert into audit_event (org_id, action, target, details)
          values (p_org, 'quota.alert', p_resource,
                  jsonb_build_object('threshold', t, 'used', after_use, 'quota', p_limit,
                                     'period_start', p_period));
      end if;
    end if;
  end loop;
end $$;
revoke all on function quota_step(uuid, text, date, bigint, bigint, bigint) from public;

-- Locks an org's account row (the one place concurrent writers of one org queue) and starts a
-- new period if the month turned; returns the period.
create function quota_lock(p_org uuid) returns date
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  current_period date := date_trunc('month', now())::date;
  period date;
begin
  insert into org_account (org_id) values (p_org) on conflict do nothing;
  select a.period_start into period from org_account a where a.org_id = p_org for update;
  if period < current_period then
    update org_account set period_start = current_period, tokens_used = 0 where org_id = p_org;
    period := current_period;
  end if;
  return period;
end $$;
revoke all on function quota_lock(uuid) from public;

-- Usage: price each event at the price in force when it happened.
create function usage_event_price() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  price record;
begin
  select p.input_micros_per_mtok, p.output_micros_per_mtok into price
    from model_price p
   where p.model = new.model and p.effective_from <= (new.occurred_at at time zone 'UTC')::date
   order by p.effective_from desc limit 1;
  if not found then
    raise exception using errcode = 'TQ002',
      message = format('No price is set for model %s on %s.', new.model,
                       (new.occurred_at at time zone 'UTC')::date);
  end if;
  new.cost_micros := (new.input_tokens::numeric * price.input_micros_per_mtok
                      + new.output_tokens::numeric * price.output_micros_per_mtok) / 1000000;
  return new;
end $$;
revoke all on function usage_event_price() from public;
create trigger usage_event_price before insert on usage_event
  for each row execute function usage_event_price();

-- Usage: count against the monthly token allowance, then roll up by month. After the row
-- passed row-level security, so a refused cross-org insert never reaches the counters.
create function usage_event_account() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  period date := quota_lock(new.org_id);
  used bigint;
  lim bigint;
begin
  select a.tokens_used into used from org_account a where a.org_id = new.org_id;
  select l.max_tokens_per_month into lim from org_limits(new.org_id) l;
  perform quota_step(new.org_id, 'tokens', period, used,
                     new.input_tokens + new.output_tokens, lim);
  update org_account set tokens_used = tokens_used + new.input_tokens + new.output_tokens
   where org_id = new.org_id;
  insert into usage_month as m (org_id, month, agent_id, model, input_tokens, output_tokens,
                                cost_micros, events)
    values (new.org_id, date_trunc('month', new.occurred_at at time zone 'UTC')::date,
            new.agent_id, new.model, new.input_tokens, new.output_tokens, new.cost_micros, 1)
    on conflict (org_id, month, agent_id, model) do update
      set input_tokens = m.input_tokens + excluded.input_tokens,
          output_tokens = m.output_tokens + excluded.output_tokens,
          cost_micros = m.cost_micros + excluded.cost_micros,
          events = m.events + 1;
  return null;
end $$;
revoke all on function usage_event_account() from public;
create trigger usage_event_account after insert on usage_event
  for each row execute function usage_event_account();

-- Agents: assigning one to an org counts against its agent allowance.
create function agent_quota() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  period date;
  assigned bigint;
  lim bigint;
begin
  if new.org_id is null or new.org_id is not distinct from
     (case when tg_op = 'UPDATE' then old.org_id end) then
    return null;
  end if;
  period := quota_lock(new.org_id);
  select count(*) - 1 into assigned from agent where org_id = new.org_id;
  select l.max_agents into lim from org_limits(new.org_id) l;
  perform quota_step(new.org_id, 'agents', period, assigned, 1, lim);
  return null;
end $$;
revoke all on function agent_quota() from public;
create trigger agent_quota after insert or update of org_id on agent
  for each row execute function agent_quota();

-- Seats: each membership is one.
create function membership_quota() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  period date := quota_lock(new.org_id);
  members bigint;
  lim bigint;
begin
  select count(*) - 1 into members from membership where org_id = new.org_id;
  select l.max_seats into lim from org_limits(new.org_id) l;
  perform quota_step(new.org_id, 'seats', period, members, 1, lim);
  return null;
end $$;
revoke all on function membership_quota() from public;
create trigger membership_quota after insert on membership
  for each row execute function membership_quota();

-- Storage: the knowledge base's text, in bytes.
create function knowledge_storage() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  org uuid := coalesce(new.org_id, old.org_id);
  period date;
  before_bytes bigint;
  delta bigint := coalesce(octet_length(new.title) + octet_length(new.body), 0)
                - coalesce(octet_length(old.title) + octet_length(old.body), 0);
  lim bigint;
begin
  if tg_op = 'DELETE' and not exists (select from organization where org_id = org) then
    return null;
  end if;
  period := quota_lock(org);
  select a.storage_bytes into before_bytes from org_account a where a.org_id = org;
  select l.max_storage_bytes into lim from org_limits(org) l;
  perform quota_step(org, 'storage', period, before_bytes, delta, lim);
  update org_account set storage_bytes = greatest(storage_bytes + delta, 0) where org_id = org;
  return null;
end $$;
revoke all on function knowledge_storage() from public;
create trigger knowledge_storage after insert or update or delete on knowledge_entry
  for each row execute function knowledge_storage();

-- Months that have ended are frozen into billing records: each agent serving the org when the
-- month is closed, or with usage in it, at the rate then in force. Safe to re-run: a month is
-- closed once per org (`closed_through`).
create function platform.close_billing_months() returns integer
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  last_closed date := (date_trunc('month', now()) - interval '1 month')::date;
  acct record;
  m date;
  closed integer := 0;
begin
  for acct in
    select a.org_id, a.default_rate_cents, a.closed_through,
           (select min(u.month) from usage_month u where u.org_id = a.org_id) as first_usage,
           (select min(ag.assigned_at) from agent ag where ag.org_id = a.org_id) as first_agent
      from org_account a
     where a.closed_through is null or a.closed_through < last_closed
     for update of a
  loop
    m := coalesce((acct.closed_through + interval '1 month')::date,
                  least(acct.first_usage,
                        date_trunc('month', acct.first_agent at time zone 'UTC')::date,
                        last_closed));
    while m <= last_closed loop
      insert into billing_record (org_id, month, agent_id, agent_name, rate_cents,
                                  input_tokens, output_tokens, cost_micros)
        select acct.org_id, m, x.agent_id, coalesce(ag.name, 'Removed agent'),
               case when ag.org_id = acct.org_id
                     and ag.assigned_at < (m + interval '1 month')
                    then coalesce(r.rate_cents, acct.default_rate_cents) else 0 end,
               coalesce(u.input_tokens, 0), coalesce(u.output_tokens, 0),
               coalesce(u.cost_micros, 0)
          from (select ag2.agent_id from agent ag2
                 where ag2.org_id = acct.org_id and ag2.assigned_at < (m + interval '1 month')
                union
                select um.agent_id from usage_month um
                 where um.org_id = acct.org_id and um.month = m) x
          left join agent ag on ag.agent_id = x.agent_id
          left join agent_rate r on r.org_id = acct.org_id and r.agent_id = x.agent_id
          left join (select um.agent_id, sum(um.input_tokens) as input_tokens,
                            sum(um.output_tokens) as output_tokens,
                            sum(um.cost_micros) as cost_micros
                       from usage_month um
                      where um.org_id = acct.org_id and um.month = m
                      group by um.agent_id) u on u.agent_id = x.agent_id
        on conflict do nothing;
      closed := closed + 1;
      m := (m + interval '1 month')::date;
    end loop;
    update org_account set closed_through = last_closed where org_id = acct.org_id;
  end loop;
  return closed;
end $$;
revoke all on function platform.close_billing_months() from public;
grant execute on function platform.close_billing_months() to tenantry_app;

-- The monthly reset: every org whose period ended starts a new one at zero tokens (alerts are
-- per period, so they re-arm). Safe to re-run: a second run finds nothing to reset.
create function platform.reset_quota_periods() returns integer
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  n integer;
begin
  update org_account set period_start = date_trunc('month', now())::date, tokens_used = 0
   where period_start < date_trunc('month', now())::date;
  get diagnostics n = row_count;
  return n;
end $$;
revoke all on function platform.reset_quota_periods() from public;
grant execute on function platform.reset_quota_periods() to tenantry_app;

-- The org's allowances and what is used of them, for its health and the Billing tab (its own
-- org only: the account row is behind row-level security).
create function org_allowances(p_org uuid)
returns table (resource text, used bigint, quota bigint)
language sql stable set search_path = public, pg_temp as $$
  select r.resource, r.used, r.quota
    from org_account a
    cross join lateral org_limits(a.org_id) l
    cross join lateral (values
      ('agents', (select count(*) from agent where org_id = a.org_id), l.max_agents),
      ('seats', (select count(*) from membership where org_id = a.org_id), l.max_seats),
      ('storage', a.storage_bytes, l.max_storage_bytes),
      ('tokens', case when a.period_start < date_trunc('month', now())::date then 0
                      else a.tokens_used end, l.max_tokens_per_month)
    ) as r(resource, used, quota)
   where a.org_id = p_org
$$;

-- LLM API keys per provider, for the org or for one of its members; AES-256-GCM ciphertext
-- only (the key comes from configuration), with the last four characters to recognise it by.
create table llm_key (
  llm_key_id uuid primary key default gen_random_uuid(),
  org_id     uuid not null references organization (org_id) on delete cascade,
  -- Null: the org's own key.
  user_id    uuid references app_user (user_id) on delete cascade,
  provider   text not null check (provider in ('openai', 'anthropic', 'google', 'mistral', 'azure_openai')),
  nonce      bytea not null check (length(nonce) = 12),
  ciphertext bytea not null,
  last4      text not null check (length(last4) <= 4),
  updated_at timestamptz not null default now()
);
create unique index llm_key_scope_key
  on llm_key (org_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), provider);
alter table llm_key enable row level security;
alter table llm_key force row level security;
create policy llm_key_tenant on llm_key
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

-- Stripe: events already handled (idempotency by event id), reachable only through the two
-- functions below; the webhook has no org until it has found one.
create table platform.stripe_event (
  event_id    text primary key,
  event_type  text not null,
  received_at timestamptz not null default now()
);
revoke all on platform.stripe_event from tenantry_app;

-- Records an event id; false when it was seen before.
create function platform.stripe_event_first(p_event text, p_type text) returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
begin
  insert into platform.stripe_event (event_id, event_type) values (p_event, p_type)
    on conflict do nothing;
  return found;
end $$;
revoke all on function platform.stripe_event_first(text, text) from public;
grant execute on function platform.stripe_event_first(text, text) to tenantry_app;

-- Forgets an event whose handling failed, so Stripe's retry is handled rather than skipped.
create function platform.stripe_event_forget(p_event text) returns void
language sql volatile security definer set search_path = public, pg_temp as $$
  delete from platform.stripe_event where event_id = p_event
$$;
revoke all on function platform.stripe_event_forget(text) from public;
grant execute on function platform.stripe_event_forget(text) to tenantry_app;

-- The org a Stripe subscription (or, before it is recorded, customer) belongs to.
create function platform.org_for_stripe(p_subscription text, p_customer text) returns uuid
language sql stable security definer set search_path = public, pg_temp as $$
  select s.org_id from subscription s
   where (p_subscription is not null and s.stripe_subscription_id = p_subscription)
      or (p_customer is not null and s.stripe_customer_id = p_customer)
   order by (s.stripe_subscription_id = p_subscription) desc nulls last
   limit 1
$$;
revoke all on function platform.org_for_stripe(text, text) from public;
grant execute on function platform.org_for_stripe(text, text) to tenantry_app;

-- The platform overview: every org's revenue and cost this month, for ranking by margin
-- (superadmins only; the caller checks). Revenue is the rates of the agents serving each org
-- now, cost this month's usage.
create function platform.margin_overview()
returns table (org_id uuid, org_number bigint, name text, agents bigint, revenue_cents bigint,
               cost_micros numeric)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.org_id, o.org_number::bigint, o.name,
         coalesce(r.agents, 0), coalesce(r.revenue, 0)::bigint, coalesce(c.cost, 0)
    from organization o
    join org_account a on a.org_id = o.org_id
    left join (select ag.org_id, count(*) as agents,
                      sum(coalesce(ar.rate_cents, acc.default_rate_cents)) as revenue
                 from agent ag
                 join org_account acc on acc.org_id = ag.org_id
                 left join agent_rate ar on ar.org_id = ag.org_id and ar.agent_id = ag.agent_id
                group by ag.org_id) r on r.org_id = o.org_id
    left join (select u.org_id, sum(u.cost_micros) as cost from usage_month u
                where u.month = date_trunc('month', now())::date group by u.org_id) c on c.org_id = o.org_id
$$;
revoke all on function platform.margin_overview() from public;
grant execute on function platform.margin_overview() to tenantry_app;
