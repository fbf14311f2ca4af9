-- Invitations: an org admin invites an email address with a role; the link's token is single
-- use, expires, and only its SHA-256 is kept. Resending extends the same invitation with a new
-- token (the older link stops working), so an address has at most one open invitation per org.
create table invitation (
  org_id         uuid not null references organization (org_id) on delete cascade,
  invitation_id  uuid not null default gen_random_uuid(),
  email          text not null,
  role_name      text not null,
  -- A new account made by accepting is locked to this org (a client user).
  bound          boolean not null default false,
  token_hash     bytea not null,
  invited_by     uuid references app_user (user_id) on delete set null,
  created_at     timestamptz not null default now(),
  expires_at     timestamptz not null,
  sends          integer not null default 1,
  last_sent_at   timestamptz not null default now(),
  accepted_at    timestamptz,
  accepted_by    uuid references app_user (user_id) on delete set null,
  revoked_at     timestamptz,
  primary key (org_id, invitation_id),
  constraint invitation_role_fkey foreign key (org_id, role_name)
    references org_role (org_id, role_name) on update cascade on delete cascade,
  constraint invitation_email_check check (email = lower(btrim(email)) and email like '%_@_%'
                                           and length(email) <= 254),
  constraint invitation_token_hash_check check (length(token_hash) = 32),
  constraint invitation_one_ending check (accepted_at is null or revoked_at is null)
);
create unique index invitation_token_key on invitation (token_hash);
create unique index invitation_open_key on invitation (org_id, email)
  where accepted_at is null and revoked_at is null;
select platform.tenant_table('invitation');
alter table invitation force row level security;

-- Emails waiting to go out, kept in the transaction of what caused them so a restart loses
-- none. A sender on each node claims one at a time; a sent message's body (which may hold a
-- link's token) is cleared.
create table email_outbox (
  org_id           uuid not null references organization (org_id) on delete cascade,
  email_id         uuid not null default gen_random_uuid(),
  recipient        text not null,
  subject          text not null,
  body             text not null,
  created_at       timestamptz not null default now(),
  attempts         integer not null default 0,
  next_attempt_at  timestamptz not null default now(),
  sent_at          timestamptz,
  last_error       text,
  primary key (org_id, email_id)
);
create index email_outbox_due on email_outbox (next_attempt_at) where sent_at is null;
select platform.tenant_table('email_outbox');
alter table email_outbox force row level security;

-- The org of an invitation token's hash, for the accept page (whose visitor is not yet a
-- member, so has no org scope to look it up in). Answers nothing else.
create function platform.invitation_org(p_token_hash bytea) returns uuid
language sql stable security definer set search_path = public, pg_temp as $$
  select org_id from invitation where token_hash = p_token_hash
$$;
revoke all on function platform.invitation_org(bytea) from public;
grant execute on function platform.invitation_org(bytea) to tenantry_app;

-- Whether an account has this email, for the accept page (a new account, or sign in first).
create function platform.email_taken(p_email text) returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
  select exists (select from app_user where email = lower(btrim(p_email)))
$$;
revoke all on function platform.email_taken(text) from public;
grant execute on function platform.email_taken(text) to tenantry_app;

-- The next email due, leased to the caller for p_seconds (a sender that dies leaves it to the
-- next claim after the lease). Cross-org by nature; returns only its key.
create function platform.claim_email(p_seconds integer)
returns table (org_id uuid, email_id uuid, attempts integer)
language sql volatile security definer set search_path = public, pg_temp as $$
  update email_outbox e
     set attempts = e.attempts + 1,
         next_attempt_at = clock_timestamp()
                           + make_interval(secs => least(greatest(p_seconds, 1), 600))
    from (select c.org_id, c.email_id from email_outbox c
           where c.sent_at is null and c.next_attempt_at <= now()
           order by c.next_attempt_at
           limit 1
           for update skip locked) next
   where e.org_id = next.org_id and e.email_id = next.email_id
  returning e.org_id, e.email_id, e.attempts
$$;
revoke all on function platform.claim_email(integer) from public;
grant execute on function platform.claim_email(integer) to tenantry_app;

-- Every org's custom domain, for the isolation report's duplicate check (`server
-- isolation-report`). Domains only, no other org data.
create function platform.org_domains() returns table (org_id uuid, domain text)
language sql stable security definer set search_path = public, pg_temp as $$
  select org_id, primary_domain from organization
   where primary_domain is not null and primary_domain <> ''
$$;
revoke all on function platform.org_domains() from public;
grant execute on function platform.org_domains() to tenantry_app;

-- Whether a user's account is active (false for none), for accepting an invitation: an
-- inviter disabled since cannot still bring people in. Says nothing else about the user.
create function platform.user_active(p_user_id uuid) returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
  select coalesce((select status = 'active' from app_user where user_id = p_user_id), false)
$$;
revoke all on function platform.user_active(uuid) from public;
grant execute on function platform.user_active(uuid) to tenantry_app;
