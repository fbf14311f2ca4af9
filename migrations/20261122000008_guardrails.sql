-- Guardrails: each org's policies, and the interventions (blocks and redactions) they made.
-- Both are org data under the same policy as every other org table.
create table guardrail_policy (
  policy_id  uuid primary key default gen_random_uuid(),
  org_id     uuid not null references organization (org_id) on delete cascade,
  name       text not null check (btrim(name) <> '' and length(name) <= 200),
  kind       text not null check (kind in ('blocked_topics', 'pii_redaction', 'max_length',
                                            'allowed_models', 'escalate')),
  enabled    boolean not null default true,
  -- Lower runs first.
  priority   integer not null default 100 check (priority between 0 and 10000),
  params     jsonb not null default '{}' check (jsonb_typeof(params) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name)
);
create index guardrail_policy_org_idx on guardrail_policy (org_id, priority, policy_id);

alter table guardrail_policy enable row level security;
alter table guardrail_policy force row level security;
create policy guardrail_policy_tenant on guardrail_policy
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));

create table guardrail_intervention (
  intervention_id uuid primary key default gen_random_uuid(),
  org_id          uuid not null references organization (org_id) on delete cascade,
  agent_id        uuid references agent (agent_id) on delete set null,
  policy_id       uuid references guardrail_policy (policy_id) on delete set null,
  -- The policy's name then, kept if the policy is deleted.
  policy_name     text not null,
  action          text not null check (action in ('block', 'redact')),
  escalated       boolean not null default false,
  reason          text not null default '',
  -- At most 200 characters of the text evaluated.
  excerpt         text not null check (length(excerpt) <= 200),
  created_at      timestamptz not null default now()
);
create index guardrail_intervention_org_idx on guardrail_intervention (org_id, created_at desc);

alter table guardrail_intervention enable row level security;
alter table guardrail_intervention force row level security;
create policy guardrail_intervention_tenant on guardrail_intervention
  using (org_id = (select nullif(current_setting('app.org_id', true), '')::uuid));
-- The log is append-only for the runtime role.
revoke update, delete on guardrail_intervention from tenantry_app;
