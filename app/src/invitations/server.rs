use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Utc};
use leptos::server_fn::ServerFn;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{parse_days, Invitation, InvitationList, InvitationView, Invited, ACCEPT_PATH};
use crate::{
    auth::{
        email_problem, password, session_insert_user as insert_user, set_cookie, sign_in_new,
        switch_to_joined_org, token, validate_new_user,
    },
    context::Services,
    error::parse_uuid,
    members::server::{check_within_grant, role_names, role_sections},
    orgs::add_member,
    tenancy::gate::{self, account_scope, lookup, Client, Gate, Tenant},
    AppError,
};

const TOKEN_PREFIX: &str = "inv_";

/// A new link token and the hash kept of it.
fn new_token() -> (String, Vec<u8>) {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}

/// The hash of a well-formed token; anything else is no invitation.
fn token_hash(token: &str) -> Result<Vec<u8>, AppError> {
    let token = token.trim();
    let well_formed = token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|secret| secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(invalid_link());
    }
    Ok(Sha256::digest(token.as_bytes()).to_vec())
}

fn invalid_link() -> AppError {
    AppError::field(
        "token",
        "This invitation link is not valid. Ask the person who invited you for a new one.",
    )
}

/// Where the accept page is: `TENANTRY_PUBLIC_URL` (`serve` defaults it to its own address),
/// never the request's Host header, which the caller chooses: a link in an email the platform
/// sends must not point wherever an admin's request said.
fn link(services: &Services, token: &str) -> String {
    let base = services.mail.public_url.clone().unwrap_or_else(|| {
        let scheme = if services.secure_cookies {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", services.base_domain)
    });
    format!("{base}{ACCEPT_PATH}?token={token}")
}

async fn org_name(conn: &mut PgConnection, org: Uuid) -> Result<String, AppError> {
    Ok(
        sqlx::query_scalar!("select name from organization where org_id = $1", org)
            .fetch_optional(conn)
            .await?
            .unwrap_or_default(),
    )
}

pub async fn list(org_id: &str) -> Result<InvitationList, AppError> {
    let gate = Gate::open(super::ListInvitations::PATH)?;
    let mail = gate.services().mail.configured();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let rows = sqlx::query!(
        r#"select i.invitation_id, i.email, i.role_name, i.bound, u.name as "invited_by?",
                  i.created_at, i.expires_at, i.sends, i.last_sent_at,
                  (select o.last_error from email_outbox o
                    where o.org_id = i.org_id and o.recipient = i.email and o.sent_at is null
                    order by o.created_at desc limit 1) as delivery_error
             from invitation i
             left join app_user u on u.user_id = i.invited_by
            where i.org_id = $1 and i.accepted_at is null and i.revoked_at is null
            order by i.created_at desc
            limit 200"#,
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    let invitations = rows
        .into_iter()
        .map(|r| Invitation {
            id: r.invitation_id.to_string(),
            email: r.email,
            role: r.role_name,
            bound: r.bound,
            invited_by: r.invited_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            sends: r.sends,
            last_sent_at: r.last_sent_at,
            delivery_error: r.delivery_error,
        })
        .collect();
    let roles = givable_roles(&mut tenant).await?;
    let org_name = org_name(tenant.conn(), org).await?;
    let now = now(tenant.conn()).await?;
    tenant.commit().await?;
    Ok(InvitationList {
        org_id: org.to_string(),
        org_name,
        invitations,
        roles,
        mail,
        now,
    })
}

async fn now(conn: &mut PgConnection) -> Result<DateTime<Utc>, AppError> {
    Ok(sqlx::query_scalar!(r#"select now() as "now!""#)
        .fetch_one(conn)
        .await?)
}

/// The org's roles the caller may hand out (nobody gives more than they hold).
async fn givable_roles(tenant: &mut Tenant) -> Result<Vec<String>, AppError> {
    let mut givable = Vec::new();
    for role in role_names(tenant).await? {
        let sections = role_sections(tenant, &role).await?;
        if check_within_grant(&tenant.grant, &role, &sections).is_ok() {
            givable.push(role);
        }
    }
    Ok(givable)
}

pub async fn invite(
    org_id: &str,
    email: &str,
    role: &str,
    days: &str,
    bound: bool,
) -> Result<Invited, AppError> {
    let gate = Gate::open(super::Invite::PATH)?;
    let services = gate.services().clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let email = email.trim().to_lowercase();
    let mut errors = std::collections::BTreeMap::new();
    if let Some(problem) = email_problem(&email) {
        errors.insert("email".to_string(), vec![problem]);
    }
    if let Err(AppError::Validation(mut fields)) = parse_days(days) {
        errors.append(&mut fields);
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let days = parse_days(days)?;
    if !role_names(&mut tenant).await?.iter().any(|r| r == role) {
        return Err(AppError::field("role", "Choose a role."));
    }
    let sections = role_sections(&mut tenant, role).await?;
    check_within_grant(&tenant.grant, role, &sections)?;
    let member = sqlx::query_scalar!(
        r#"select exists (select from membership m join app_user u using (user_id)
                           where m.org_id = $1 and u.email = $2) as "member!""#,
        org,
        email
    )
    .fetch_one(tenant.conn())
    .await?;
    if member {
        return Err(AppError::field(
            "email",
            format!("{email} is already a member of this organization."),
        ));
    }
    let (token, hash) = new_token();
    let inserted = sqlx::query_scalar!(
        "insert into invitation (org_id, email, role_name, bound, token_hash, invited_by,
                                 expires_at)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7))
         on conflict (org_id, email) where accepted_at is null and revoked_at is null
         do nothing
         returning expires_at",
        org,
        email,
        role,
        bound,
        hash,
        tenant.principal.user_id,
        days as i32
    )
    .fetch_optional(tenant.conn())
    .await?;
    let Some(expires_at) = inserted else {
        return Err(AppError::field(
            "email",
            format!("{email} already has an open invitation: resend it from the list below."),
        ));
    };
    let link = link(&services, &token);
    let sent = send(&services, &mut tenant, &email, role, expires_at, &link).await?;
    tenant
        .audit(
            "invitation.create",
            &email,
            json!({ "role": role, "days": days, "bound": bound }),
        )
        .await?;
    tenant.commit().await?;
    services.mail.wake.notify_one();
    Ok(Invited {
        email,
        expires_at,
        link: (!sent).then_some(link),
    })
}

/// Queues the invitation email in the tenant's transaction; without SMTP logs the link
/// instead. Whether an email was queued.
async fn send(
    services: &Services,
    tenant: &mut Tenant,
    email: &str,
    role: &str,
    expires_at: DateTime<Utc>,
    link: &str,
) -> Result<bool, AppError> {
    let org = tenant.org_id;
    let org_name = org_name(tenant.conn(), org).await?;
    if !services.mail.configured() {
        tracing::info!(%org, %email, %link, "no SMTP server is configured: pass this invitation link on");
        return Ok(false);
    }
    let inviter = sqlx::query_scalar!(
        "select name from app_user where user_id = $1",
        tenant.principal.user_id
    )
    .fetch_optional(tenant.conn())
    .await?
    .unwrap_or_else(|| "An administrator".to_string());
    let subject = format!("You are invited to {org_name} on Tenantry");
    let body = format!(
        "{inviter} invited you to join {org_name} on Tenantry as {role}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once and expires on {} (UTC). If you did not expect this invitation, \
         you can ignore this email.\n",
        expires_at.format("%Y-%m-%d %H:%M"),
        role = crate::orgs::role_label(role),
    );
    crate::mail::enqueue(tenant.conn(), org, email, &subject, &body).await?;
    Ok(true)
}

pub async fn resend(org_id: &str, invitation_id: &str, days: &str) -> Result<Invited, AppError> {
    let gate = Gate::open(super::ResendInvitation::PATH)?;
    let services = gate.services().clone();
    let id = parse_uuid(invitation_id, "invitation_id", "an invitation")?;
    let days = parse_days(days)?;
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let (token, hash) = new_token();
    let row = sqlx::query!(
        "update invitation
            set token_hash = $3, expires_at = now() + make_interval(days => $4),
                sends = sends + 1, last_sent_at = now()
          where org_id = $1 and invitation_id = $2
            and accepted_at is null and revoked_at is null
          returning email, role_name, expires_at",
        org,
        id,
        hash,
        days as i32
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The invitation".to_string()))?;
    // The resending admin may not give more than they hold either.
    let sections = role_sections(&mut tenant, &row.role_name).await?;
    check_within_grant(&tenant.grant, &row.role_name, &sections)?;
    // An older email not yet delivered holds a link that no longer works: it does not go.
    sqlx::query!(
        "delete from email_outbox where org_id = $1 and recipient = $2 and sent_at is null",
        org,
        row.email
    )
    .execute(tenant.conn())
    .await?;
    let link = link(&services, &token);
    let sent = send(
        &services,
        &mut tenant,
        &row.email,
        &row.role_name,
        row.expires_at,
        &link,
    )
    .await?;
    tenant
        .audit(
            "invitation.resend",
            &row.email,
            json!({ "invitation": id, "days": days }),
        )
        .await?;
    tenant.commit().await?;
    services.mail.wake.notify_one();
    Ok(Invited {
        email: row.email,
        expires_at: row.expires_at,
        link: (!sent).then_some(link),
    })
}

pub async fn revoke(org_id: &str, invitation_id: &str) -> Result<(), AppError> {
    let id = parse_uuid(invitation_id, "invitation_id", "an invitation")?;
    let mut tenant = Gate::open(super::RevokeInvitation::PATH)?
        .tenant_in(org_id)
        .await?;
    let org = tenant.org_id;
    let row = sqlx::query!(
        "update invitation set revoked_at = now()
          where org_id = $1 and invitation_id = $2
            and accepted_at is null and revoked_at is null
          returning email, role_name",
        org,
        id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The invitation".to_string()))?;
    // Nobody withdraws an invitation to more than they could give.
    let sections = role_sections(&mut tenant, &row.role_name).await?;
    check_within_grant(&tenant.grant, &row.role_name, &sections)?;
    let email = row.email;
    // An email not yet delivered is not sent after all.
    sqlx::query!(
        "delete from email_outbox where org_id = $1 and recipient = $2 and sent_at is null",
        org,
        email
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("invitation.revoke", &email, json!({ "invitation": id }))
        .await?;
    tenant.commit().await
}

/// One invitation read for its link's holder, in its org's scope, locked for update.
struct Found {
    /// Whether the org takes new members (active) and the inviter still may invite (not
    /// disabled); else accepting is refused.
    org_active: bool,
    inviter_active: bool,
    invitation_id: Uuid,
    email: String,
    role: String,
    bound: bool,
    expires_at: DateTime<Utc>,
    state: &'static str,
}

async fn find(conn: &mut PgConnection, org: Uuid, hash: &[u8]) -> Result<Found, AppError> {
    let row = sqlx::query!(
        r#"select i.invitation_id, i.email, i.role_name, i.bound, i.expires_at,
                  case when i.revoked_at is not null then 'revoked'
                       when i.accepted_at is not null then 'accepted'
                       when i.expires_at <= now() then 'expired'
                       else 'open' end as "state!",
                  (select o.status = 'active' from organization o where o.org_id = i.org_id)
                    as "org_active!",
                  platform.user_active(i.invited_by) as "inviter_active!"
             from invitation i where i.org_id = $1 and i.token_hash = $2
             for update of i"#,
        org,
        hash
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(invalid_link)?;
    let state = match row.state.as_str() {
        "revoked" => "revoked",
        "accepted" => "accepted",
        "expired" => "expired",
        _ => "open",
    };
    Ok(Found {
        org_active: row.org_active,
        inviter_active: row.inviter_active,
        invitation_id: row.invitation_id,
        email: row.email,
        role: row.role_name,
        bound: row.bound,
        expires_at: row.expires_at,
        state,
    })
}

/// The org a token belongs to (looked up by its hash only).
async fn org_of(services: &Services, hash: &[u8]) -> Result<Uuid, AppError> {
    sqlx::query_scalar!(r#"select platform.invitation_org($1) as "org?""#, hash)
        .fetch_one(lookup(services).pool())
        .await?
        .ok_or_else(invalid_link)
}

/// Refuses an invitation that cannot be accepted now: closed, its org disabled, or its inviter
/// disabled since.
fn acceptable(found: &Found) -> Result<(), AppError> {
    if found.state != "open" {
        return Err(closed(found.state));
    }
    if !found.org_active {
        return Err(AppError::Conflict(
            "This organization is not taking new members at the moment. Ask the person who invited you."
                .to_string(),
        ));
    }
    if !found.inviter_active {
        return Err(AppError::Conflict(
            "The person who sent this invitation can no longer invite. Ask an administrator of the organization for a new one."
                .to_string(),
        ));
    }
    Ok(())
}

fn closed(state: &str) -> AppError {
    AppError::Conflict(
        match state {
            "revoked" => {
                "This invitation was withdrawn. Ask the person who invited you for a new one."
            }
            "accepted" => {
                "This invitation has already been used. Sign in to reach the organization."
            }
            _ => "This invitation has expired. Ask the person who invited you to send it again.",
        }
        .to_string(),
    )
}

pub async fn details(token: &str) -> Result<InvitationView, AppError> {
    let gate = Gate::open(super::InvitationDetails::PATH)?;
    gate.public()?;
    let services = gate.services().clone();
    let hash = token_hash(token)?;
    let org = org_of(&services, &hash).await?;
    let signed_in = gate::principal(&services, gate.parts()).await.ok();
    let viewer = signed_in
        .as_ref()
        .map(|p| p.user_id)
        .unwrap_or_else(Uuid::nil);
    let mut tx = account_scope(&services, viewer).await?;
    gate::set_scope(&mut tx, Some(org), viewer).await?;
    let found = find(&mut tx, org, &hash).await?;
    if found.state != "open" {
        tx.commit().await?;
        // A used, withdrawn or expired link says no more than that.
        return Ok(InvitationView {
            org_name: String::new(),
            email: String::new(),
            role: String::new(),
            state: found.state.to_string(),
            expires_at: found.expires_at,
            account_exists: false,
            signed_in_as: None,
        });
    }
    let org_name = org_name(&mut tx, org).await?;
    let signed_in_as = match &signed_in {
        Some(p) => {
            sqlx::query_scalar!("select email from app_user where user_id = $1", p.user_id)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => None,
    };
    tx.commit().await?;
    let account_exists = sqlx::query_scalar!(
        r#"select platform.email_taken($1) as "taken!""#,
        found.email
    )
    .fetch_one(lookup(&services).pool())
    .await?;
    Ok(InvitationView {
        org_name,
        email: found.email,
        role: found.role,
        state: found.state.to_string(),
        expires_at: found.expires_at,
        account_exists,
        signed_in_as,
    })
}

pub async fn accept(token: &str, name: &str, password_text: &str) -> Result<(), AppError> {
    let gate = Gate::open(super::AcceptInvitation::PATH)?;
    gate.public()?;
    let (services, parts) = (gate.services().clone(), gate.parts().clone());
    let hash = token_hash(token)?;
    let org = org_of(&services, &hash).await?;
    match gate::principal(&services, &parts).await.ok() {
        Some(principal) => {
            let user = principal.user_id;
            let mut tx = account_scope(&services, user).await?;
            gate::set_scope(&mut tx, Some(org), user).await?;
            let found = find(&mut tx, org, &hash).await?;
            acceptable(&found)?;
            let email = sqlx::query_scalar!("select email from app_user where user_id = $1", user)
                .fetch_one(&mut *tx)
                .await?;
            if email != found.email {
                return Err(AppError::Forbidden(format!(
                    "This invitation is for {}, and you are signed in as {email}. Sign out, then open the link again.",
                    found.email
                )));
            }
            if principal.bound_org.is_some_and(|b| b != org) {
                return Err(AppError::Forbidden(
                    "Your account is locked to its own organization and cannot join another."
                        .to_string(),
                ));
            }
            let member = sqlx::query_scalar!(
                r#"select exists (select from membership where org_id = $1 and user_id = $2) as "m!""#,
                org,
                user
            )
            .fetch_one(&mut *tx)
            .await?;
            if !member {
                add_member(&mut tx, org, user, &found.role).await?;
            }
            accepted(&mut tx, org, &found, user, &Client::of(&parts)).await?;
            tx.commit().await?;
            let token = switch_to_joined_org(&services, &parts, &org.to_string()).await?;
            set_cookie(&token::cookie(&token, services.secure_cookies));
            Ok(())
        }
        None => {
            // A new account: the address is the invitation's, not the form's.
            let email = {
                let mut tx = account_scope(&services, Uuid::nil()).await?;
                gate::set_scope(&mut tx, Some(org), Uuid::nil()).await?;
                let found = find(&mut tx, org, &hash).await?;
                tx.commit().await?;
                acceptable(&found)?;
                found.email
            };
            let taken =
                sqlx::query_scalar!(r#"select platform.email_taken($1) as "taken!""#, email)
                    .fetch_one(lookup(&services).pool())
                    .await?;
            if taken {
                return Err(AppError::Conflict(format!(
                    "An account with {email} already exists: sign in, then open this link again."
                )));
            }
            let new_user = validate_new_user(name, &email, password_text)?;
            let client = Client::of(&parts);
            // Making an account spends the address's attempts, as registration does.
            let limits = (&*services.sign_in_limiter, services.stores.redis.as_ref());
            let reservation = crate::auth::rate_limit::reserve(
                limits.0,
                limits.1,
                &[crate::auth::rate_limit::ip_key(&client.ip)],
            )
            .await
            .map_err(|wait| AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            })?;
            let hash_text = password::hash(password_text.to_string()).await?;
            let user = Uuid::new_v4();
            let mut tx = account_scope(&services, user).await?;
            gate::set_scope(&mut tx, Some(org), user).await?;
            // Read again under lock: it may have been revoked or used meanwhile.
            let found = find(&mut tx, org, &hash).await?;
            acceptable(&found)?;
            insert_user(&mut tx, org, user, &email, &new_user.name, &hash_text).await?;
            add_member(&mut tx, org, user, &found.role).await?;
            if found.bound {
                sqlx::query!(
                    "update app_user set bound_org_id = $2 where user_id = $1",
                    user,
                    org
                )
                .execute(&mut *tx)
                .await?;
            }
            accepted(&mut tx, org, &found, user, &client).await?;
            tx.commit().await?;
            crate::auth::rate_limit::succeeded(limits.0, limits.1, reservation).await;
            let token = sign_in_new(&services, &parts, &email, password_text).await?;
            set_cookie(&token::cookie(&token, services.secure_cookies));
            Ok(())
        }
    }
}

/// Marks the invitation used by `user`, and audits it, in the org's transaction.
async fn accepted(
    conn: &mut PgConnection,
    org: Uuid,
    found: &Found,
    user: Uuid,
    client: &Client,
) -> Result<(), AppError> {
    sqlx::query!(
        "update invitation set accepted_at = now(), accepted_by = $3
          where org_id = $1 and invitation_id = $2",
        org,
        found.invitation_id,
        user
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into audit_event (org_id, actor_user_id, action, target, ip, user_agent, details)
         values ($1, $2, 'invitation.accept', $3, $4, $5, $6)",
        org,
        user,
        found.email,
        client.ip,
        client.user_agent,
        json!({ "invitation": found.invitation_id, "role": found.role, "bound": found.bound })
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_checked_before_lookup() {
        let (a, hash) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_hash(&a).unwrap(), hash);
        for bad in [
            "",
            "inv_",
            "inv_xyz",
            &a[..a.len() - 1],
            &a.replace("inv_", "tnt_"),
        ] {
            assert!(token_hash(bad).is_err(), "{bad}");
        }
    }
}
