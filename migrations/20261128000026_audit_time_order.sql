-- The audit viewer pages by time: newest first by (created_at, audit_event_id), the cursor
-- being the last event shown (its id; its time is looked up by the primary key). Paged by id
-- alone, a date range deep in a long log made PostgreSQL walk the id index from the newest
-- event down to the range (490,000 rows for one day, 50 days back, in a log of a million);
-- keyed by time, the range is where the index scan starts.
create index audit_event_org_time on audit_event (org_id, created_at desc, audit_event_id desc);
create index audit_event_org_action_time
  on audit_event (org_id, action, created_at desc, audit_event_id desc);
create index audit_event_org_actor_time
  on audit_event (org_id, actor_user_id, created_at desc, audit_event_id desc);
create index audit_event_platform_time on audit_event (created_at desc, audit_event_id desc)
  where org_id is null;
drop index audit_event_org_id_desc;
drop index audit_event_org_action;
drop index audit_event_org_actor;
drop index audit_event_platform;

create or replace function platform.audit_page(
  p_org uuid, p_platform_only boolean, p_actor text, p_action text, p_target text, p_ip text,
  p_from timestamptz, p_to timestamptz, p_before bigint, p_limit integer)
returns table (audit_event_id bigint, org_id uuid, org_name text, actor_user_id uuid,
               actor_email text, action text, target text, ip text, user_agent text,
               details jsonb, created_at timestamptz, chain_seq bigint)
language sql stable security definer set search_path = public, pg_temp as $$
  select e.audit_event_id, e.org_id, o.name, e.actor_user_id, u.email, e.action, e.target,
         e.ip, e.user_agent, e.details, e.created_at, e.chain_seq
    from audit_event e
    left join app_user u on u.user_id = e.actor_user_id
    left join organization o on o.org_id = e.org_id
   where exists (select from app_user s
                  where s.user_id = nullif(current_setting('app.user_id', true), '')::uuid
                    and s.is_superadmin and s.status = 'active')
     and (p_org is null or e.org_id = p_org)
     and (not p_platform_only or e.org_id is null)
     and (p_before is null
          or (e.created_at, e.audit_event_id)
             < (select b.created_at, b.audit_event_id from audit_event b
                 where b.audit_event_id = p_before))
     and (p_action = '' or e.action = p_action or starts_with(e.action, p_action || '.'))
     and (p_target = '' or strpos(lower(e.target), lower(p_target)) > 0)
     and (p_ip = '' or e.ip = p_ip)
     and (p_actor = '' or strpos(lower(u.email), lower(p_actor)) > 0
          or strpos(lower(u.name), lower(p_actor)) > 0)
     and (p_from is null or e.created_at >= p_from)
     and (p_to is null or e.created_at < p_to)
   order by e.created_at desc, e.audit_event_id desc
   limit least(greatest(p_limit, 1), 1001)
$$;
