use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{device, Account, AccountSession};
use crate::{
    auth::{password, rate_limit, set_cookie, token},
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
          order by session_id = $2 desc, created_at desc
          limit 100",
        principal.user_id,
        principal.session_id
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
    let (email, stored) = {
        let mut tx = account_scope(&services, principal.user_id).await?;
        let me = sqlx::query!(
            "select email, password_hash from app_user where user_id = $1",
            principal.user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        (me.email, me.password_hash)
    };
    // Guessing the current password from a session counts against the same limit as guessing
    // it at sign-in (one budget per address, not two).
    let keys = [format!("email:{email}")];
    let limits = (&*services.sign_in_limiter, services.stores.redis.as_ref());
    let reservation = match rate_limit::reserve(limits.0, limits.1, &keys).await {
        Ok(reservation) => reservation,
        Err(wait) => {
            failed(&services, &principal, "rate limited").await;
            return Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    };
    if !password::verify(current, stored.clone()).await? {
        failed(&services, &principal, "wrong current password").await;
        return Err(AppError::field(
            "current_password",
            "This is not your current password.",
        ));
    }
    rate_limit::succeeded(limits.0, limits.1, reservation).await;
    let hash = password::hash(new).await?;
    let mut tx = account_scope(&services, principal.user_id).await?;
    // Only over the password just checked, and only from a session still live: a concurrent
    // change (which signed this session out) wins.
    let live = sqlx::query_scalar!(
        r#"select exists (select from session where session_id = $1 and revoked_at is null
                                                and expires_at > now()) as "live!""#,
        principal.session_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let changed = sqlx::query!(
        "update app_user set password_hash = $2, updated_at = now()
          where user_id = $1 and password_hash is not distinct from $3",
        principal.user_id,
        hash,
        stored
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if !live || changed == 0 {
        return Err(AppError::Conflict(
            "Your password was changed meanwhile from another session. Sign in again.".to_string(),
        ));
    }
    // Every session ends, this one too: it goes on under a new session (a copied cookie of
    // this one dies with the old password).
    let (session_id, expires_at) = renew_session(&mut tx, &principal).await?;
    let others = revoke_all_but(&mut tx, principal.user_id, session_id).await?;
    audit(
        &mut tx,
        &principal,
        "password.change",
        json!({ "other_sessions_signed_out": others.saturating_sub(1) }),
    )
    .await?;
    let claims = token::from_headers(&gate.parts().headers)
        .and_then(|t| services.tokens.verify(&t))
        .ok_or(AppError::Unauthorized)?;
    tx.commit().await?;
    let renewed = services.tokens.sign(&token::Claims {
        sid: session_id,
        iat: chrono::Utc::now().timestamp(),
        exp: expires_at.timestamp(),
        ..claims
    });
    set_cookie(&token::cookie(&renewed, services.secure_cookies));
    Ok(())
}

/// A new session for the caller, from the same client: its id and expiry.
async fn renew_session(
    conn: &mut PgConnection,
    principal: &Principal,
) -> Result<(Uuid, chrono::DateTime<chrono::Utc>), AppError> {
    let session_id = Uuid::new_v4();
    let expires_at = sqlx::query_scalar!(
        r#"insert into session (session_id, user_id, ip, user_agent, expires_at)
           values ($1, $2, $3, $4, now() + make_interval(secs => $5))
           returning expires_at"#,
        session_id,
        principal.user_id,
        principal.client.ip,
        principal.client.user_agent,
        token::SESSION_TTL_SECS as f64
    )
    .fetch_one(conn)
    .await?;
    Ok((session_id, expires_at))
}

/// Records a refused password change (best effort: the refusal stands either way).
async fn failed(services: &crate::context::Services, principal: &Principal, why: &str) {
    let recorded = sqlx::query!(
        "select platform.record_audit(null, $1, 'password.change_failed', '', $2, $3, $4)",
        principal.user_id,
        principal.client.ip,
        principal.client.user_agent,
        json!({ "reason": why })
    )
    .execute(crate::tenancy::gate::lookup(services).pool())
    .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a refused password change");
    }
}

/// Signs out every session of `user` but `keep`; how many.
async fn revoke_all_but(conn: &mut PgConnection, user: Uuid, keep: Uuid) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "update session set revoked_at = now()
          where user_id = $1 and session_id <> $2 and revoked_at is null",
        user,
        keep
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
        return Err(AppError::BadRequest(
            "This is the session you are using: sign out instead.".to_string(),
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
    let others = revoke_all_but(&mut tx, principal.user_id, principal.session_id).await?;
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
