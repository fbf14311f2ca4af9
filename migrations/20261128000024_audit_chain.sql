-- The audit trail: tamper evidence and a trail that outlives its org.
--
-- - Each org's events, and the platform's (no org), form a hash chain: an event's hash is the
--   SHA-256 of the previous event's hash and the event's own fields, and events are numbered
--   1, 2, 3 … within their chain. `server audit verify` recomputes every hash and names the
--   first link that does not hold (a row changed, removed or inserted out of order).
-- - Deleting an org no longer deletes its events: they stay, readable in the platform log.
alter table audit_event drop constraint audit_event_org_id_fkey;
alter table audit_event
  add column chain_seq bigint,
  add column prev_hash bytea,
  add column hash bytea;

-- The bytes an event's hash covers, after the previous hash: its fields in a fixed order and
-- spelling, as a JSON array (so no field's text can move another's boundary; UTC time to the
-- microsecond; jsonb's own text). `server audit verify` hashes the same text.
create function platform.audit_event_text(e audit_event) returns text
language sql stable set search_path = public, pg_temp as $$
  select jsonb_build_array(
    e.org_id, e.chain_seq, e.actor_user_id, e.action, e.target, e.ip, e.user_agent, e.details,
    to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
$$;

create function platform.audit_event_hash(p_prev bytea, e audit_event) returns bytea
language sql stable set search_path = public, pg_temp as $$
  select sha256(coalesce(p_prev, '\x'::bytea) || convert_to(platform.audit_event_text(e), 'UTF8'))
$$;

-- Each new event joins its chain: numbered after the chain's last, linked to its hash. One
-- writer per chain at a time (a transaction-long advisory lock), so two events never take the
-- same place. Security definer: it reads the chain's last link whatever the caller may see.
create function platform.audit_chain() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  last_seq bigint;
  last_hash bytea;
begin
  perform pg_advisory_xact_lock(hashtextextended('tenantry.audit:' || coalesce(new.org_id::text, 'platform'), 0));
  if new.org_id is null then
    select chain_seq, hash into last_seq, last_hash from audit_event
     where org_id is null and chain_seq is not null order by chain_seq desc limit 1;
  else
    select chain_seq, hash into last_seq, last_hash from audit_event
     where org_id = new.org_id and chain_seq is not null order by chain_seq desc limit 1;
  end if;
  new.chain_seq := coalesce(last_seq, 0) + 1;
  new.prev_hash := last_hash;
  new.hash := platform.audit_event_hash(last_hash, new);
  return new;
end $$;
revoke all on function platform.audit_chain() from public;

-- The events already there, chained in the order they were written.
do $$
declare
  r audit_event;
  prev bytea;
  seq bigint := 0;
  chain text := null;
begin
  for r in select * from audit_event order by org_id nulls first, audit_event_id loop
    if chain is distinct from coalesce(r.org_id::text, 'platform') then
      chain := coalesce(r.org_id::text, 'platform');
      prev := null;
      seq := 0;
    end if;
    seq := seq + 1;
    r.chain_seq := seq;
    r.prev_hash := prev;
    prev := platform.audit_event_hash(prev, r);
    update audit_event set chain_seq = seq, prev_hash = r.prev_hash, hash = prev
     where audit_event_id = r.audit_event_id;
  end loop;
end $$;

alter table audit_event alter column chain_seq set not null, alter column hash set not null;
create trigger audit_event_chain before insert on audit_event
  for each row execute function platform.audit_chain();
create unique index audit_event_chain_key on audit_event (org_id, chain_seq);
create unique index audit_event_platform_chain_key on audit_event (chain_seq) where org_id is null;

-- The viewer's filters page backwards by id (newest first) within an org, by action or actor.
create index audit_event_org_id_desc on audit_event (org_id, audit_event_id desc);
create index audit_event_org_action on audit_event (org_id, action, audit_event_id desc);
create index audit_event_org_actor on audit_event (org_id, actor_user_id, audit_event_id desc);
create index audit_event_platform on audit_event (audit_event_id desc) where org_id is null;

-- A page of the platform's log for superadmins (the server calls it only through the platform
-- handle, with app.user_id set to the superadmin, which it checks again): events with no org,
-- or any one org's (p_org), newest first before p_before, with the viewer's filters (plain
-- text: no pattern characters). Actor emails come from the accounts (or stay empty).
create function platform.audit_page(
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
     and (p_before is null or e.audit_event_id < p_before)
     and (p_action = '' or e.action = p_action or starts_with(e.action, p_action || '.'))
     and (p_target = '' or strpos(lower(e.target), lower(p_target)) > 0)
     and (p_ip = '' or e.ip = p_ip)
     and (p_actor = '' or strpos(lower(u.email), lower(p_actor)) > 0
          or strpos(lower(u.name), lower(p_actor)) > 0)
     and (p_from is null or e.created_at >= p_from)
     and (p_to is null or e.created_at < p_to)
   order by e.audit_event_id desc
   limit least(greatest(p_limit, 1), 1001)
$$;
revoke all on function platform.audit_page(uuid, boolean, text, text, text, text, timestamptz,
  timestamptz, bigint, integer) from public;
grant execute on function platform.audit_page(uuid, boolean, text, text, text, text, timestamptz,
  timestamptz, bigint, integer) to tenantry_app;
