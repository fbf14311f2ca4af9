use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{device, Account, AccountSession};
use crate::{
    auth::{password, rate_limit},
    error::parse_uuid,
    tenancy::gate::{account_scope, Gate, Principal},
    AppError,
};

/// Records what the caller did to their own account, in the platform's log (an account
/// belongs to no one org; the org a session's token names is not proof of membership), in the
/// transaction of the change.
async fn audit(
    conn: &mut PgConnection,
    principal: &Principal,
    action: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    sqlx::query!(
        "select platform.record_audit(null, $1, $2, '', $3, $4, $5)",
        principal.user_id,
        action,
        principal.client.ip,
        principal.client.user_agent,
        details
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn account() -> Result<Account, AppError> {
    let gate = Gate::open(super::MyAccount::PATH)?;
    let principal = gate.principal().await?;
    let mut tx = account_scope(gate.services(), principal.user_id).await?;
    let me = sqlx::query!(
        "select name, email from app_user where user_id = $1",
        principal.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let sessions = sqlx::query!(
        "select session_id, ip, user_agent, created_at, expires_at from session
          where user_id = $1 and revoked_at is null and expires_at > now()
          order by created_at desc
          limit 100",
        principal.user_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Account {
        name: me.name,
        email: me.email,
        sessions: sessions
            .into_iter()
            .map(|s| AccountSession {
                id: s.session_id.to_string(),
                device: device(&s.user_agent),
                ip: s.ip,
                created_at: s.created_at,
                expires_at: s.expires_at,
                current: s.session_id == principal.session_id,
            })
            .collect(),
    })
}

pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    let gate = Gate::open(super::ChangePassword::PATH)?;
    let principal = gate.principal().await?;
    let mut errors = BTreeMap::new();
    if current.is_empty() {
        errors.insert(
            "current_password".to_string(),
            vec!["Enter your current password.".to_string()],
        );
    }
    if let Some(problem) = password::check_new(&new) {
        errors.insert("new_password".to_string(), vec![problem]);
    } else if new == current {
        errors.insert(
            "new_password".to_string(),
            vec!["Choose a password other than your current one.".to_string()],
        );
    }
    if confirm != new {
        errors.insert(
            "confirm_password".to_string(),
            vec!["This does not match the new password.".to_string()],
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let services = gate.services().clone();
    let stored = {
        let mut tx = account_scope(&services, principal.user_id).await?;
        let stored = sqlx::query_scalar!(
            "select password_hash from app_user where user_id = $1",
            principal.user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        stored
    };
    // Guessing the current password from a session is limited like signing in.
    let keys = [format!("password-change:{}", principal.user_id)];
    let limits = (&*services.sign_in_limiter, services.stores.redis.as_ref());
    let reservation = rate_limit::reserve(limits.0, limits.1, &keys)
        .await
        .map_err(|wait| AppError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        })?;
    if !password::verify(current, stored).await? {
        return Err(AppError::field(
            "current_password",
            "This is not your current password.",
        ));
    }
    rate_limit::succeeded(limits.0, limits.1, reservation).await;
    let hash = password::hash(new).await?;
    let mut tx = account_scope(&services, principal.user_id).await?;
    sqlx::query!(
        "update app_user set password_hash = $2, updated_at = now() where user_id = $1",
        principal.user_id,
        hash
    )
    .execute(&mut *tx)
    .await?;
    let others = revoke_others(&mut tx, &principal).await?;
    audit(
        &mut tx,
        &principal,
        "password.change",
        json!({ "other_sessions_signed_out": others }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Signs out the caller's sessions other than this one; how many.
async fn revoke_others(conn: &mut PgConnection, principal: &Principal) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "update session set revoked_at = now()
          where user_id = $1 and session_id <> $2 and revoked_at is null",
        principal.user_id,
        principal.session_id
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn revoke(session_id: &str) -> Result<(), AppError> {
    let gate = Gate::open(super::RevokeSession::PATH)?;
    let id: Uuid = parse_uuid(session_id, "session_id", "a session")?;
    let principal = gate.principal().await?;
    if id == principal.session_id {
        return Err(AppError::field(
            "session_id",
            "This is the session you are using: sign out instead.",
        ));
    }
    let mut tx = account_scope(gate.services(), principal.user_id).await?;
    // Row-level security shows only the caller's own sessions: another's id is not found.
    let revoked = sqlx::query_scalar!(
        "update session set revoked_at = now()
          where session_id = $1 and user_id = $2 and revoked_at is null
          returning session_id",
        id,
        principal.user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::NotFound("Session".to_string()))?;
    audit(
        &mut tx,
        &principal,
        "session.revoke",
        json!({ "session_id": revoked }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn sign_out_others() -> Result<(), AppError> {
    let gate = Gate::open(super::SignOutOthers::PATH)?;
    let principal = gate.principal().await?;
    let mut tx = account_scope(gate.services(), principal.user_id).await?;
    let others = revoke_others(&mut tx, &principal).await?;
    audit(
        &mut tx,
        &principal,
        "session.revoke_others",
        json!({ "sessions": others }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
