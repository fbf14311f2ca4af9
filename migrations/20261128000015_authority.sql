-- Authority (issue "One gate for who may do what").
--
-- 1. One list of sections. The Rust list (`tenancy::access::Section::ALL`) is the source; this
--    function repeats it for the check constraints, and a test fails when the two differ.
create function platform.sections() returns text[]
language sql immutable as $$
  select array['organizations', 'users', 'products', 'agents', 'knowledge', 'guardrails',
               'billing', 'audit', 'settings']
$$;
grant execute on function platform.sections() to tenantry_app;
alter table org_role drop constraint org_role_pages_check,
  add constraint org_role_pages_check check (pages <@ platform.sections());
alter table membership drop constraint membership_pages_check,
  add constraint membership_pages_check check (pages <@ platform.sections());

-- 2. A plan may leave out the platform's own LLM keys (the last fallback after the member's
--    and the org's keys); on by default, as before.
alter table plan add column server_llm_keys boolean not null default true;

-- 3. An agent's memory stays in the org it was written in: reassigning an agent no longer
--    carries what it learnt for one client into the next.
drop trigger agent_memory_follows on agent;
drop function agent_memory_follows();
-- What it wrote goes with that org when the org is deleted.
alter table agent_memory drop constraint agent_memory_org_id_fkey,
  add constraint agent_memory_org_id_fkey foreign key (org_id)
    references organization (org_id) on delete cascade;
