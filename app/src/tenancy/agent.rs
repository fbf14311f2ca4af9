//! The gate for agents. An agent authenticates with its API key (`Authorization: Bearer
//! tnt_…`); the key names the agent, the agent's assignment names the org, and from there the
//! request passes the same checks as a person's: every org source the request carries (host,
//! `x-tenantry-org`) must agree with that org, the org must be active, and the work happens in a
//! transaction scoped to it by row-level security.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{
    access::{need_of, Need},
    gate::{reject, resolve, Client},
};
use crate::{context::Services, AppError};

/// What every key starts with, so a leaked one is recognisable in logs and by secret scanners.
pub const KEY_PREFIX: &str = "tnt_";

/// A new key (`tnt_<prefix>_<secret>`), its prefix, and the SHA-256 kept of it. The secret has
/// 256 random bits, so a fast hash is as good as a slow one here.
pub fn new_key() -> (String, String, Vec<u8>) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    let prefix: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("{KEY_PREFIX}{prefix}_{secret}");
    let hash = key_hash(&key);
    (key, prefix, hash)
}

pub fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The prefix of a well-formed key, or `None`.
pub fn key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let well_formed = (8..=16).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(prefix)
}

/// An agent acting in the org it serves.
pub struct AgentTenant {
    pub org_id: Uuid,
    pub agent_id: Uuid,
    pub agent_name: String,
    tx: Transaction<'static, Postgres>,
}

impl AgentTenant {
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Records what the agent did in its org, in the same transaction as the change. The log's
    /// actor is a person, so the agent is named in `details` (which must be an object).
    pub async fn audit(
        &mut self,
        action: &str,
        target: &str,
        mut details: serde_json::Value,
    ) -> Result<(), AppError> {
        if let Some(fields) = details.as_object_mut() {
            fields.insert("agent_id".to_string(), self.agent_id.to_string().into());
            fields.insert("agent".to_string(), self.agent_name.clone().into());
        }
        sqlx::query!(
            "insert into audit_event (org_id, action, target, details) values ($1, $2, $3, $4)",
            self.org_id,
            action,
            target,
            details
        )
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// The calling agent, in its org; refusals are logged and audited like a person's.
pub async fn agent(services: &Services, parts: &Parts) -> Result<AgentTenant, AppError> {
    let client = Client::of(parts);
    // The route's declared need must be the agent's (closed by default).
    let route = format!("{} {}", parts.method, parts.uri.path());
    if need_of(&route) != Some(Need::Agent) {
        return Err(AppError::internal(
            "authority",
            format!("{route} is not declared an agent route"),
        ));
    }
    let mut org_seen = None;
    let result = async {
        let key = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        let prefix = key_prefix(key).ok_or(AppError::Unauthorized)?;
        let found = sqlx::query!(
            r#"select agent_id as "agent_id!", agent_name as "agent_name!",
                      agent_status as "agent_status!", org_id, org_status
                 from platform.agent_for_key($1, $2)"#,
            prefix,
            key_hash(key)
        )
        .fetch_optional(services.db.pool())
        .await?
        .ok_or(AppError::Unauthorized)?;
        let serving = found.org_id.ok_or_else(|| {
            AppError::Forbidden("This agent is not assigned to an organization.".to_string())
        })?;
        org_seen = Some(serving);
        if found.org_status.as_deref() != Some("active") {
            return Err(AppError::Forbidden(
                "organization disabled: this agent is stopped".to_string(),
            ));
        }
        if found.agent_status != "active" {
            return Err(AppError::Forbidden("This agent is paused.".to_string()));
        }
        // The agent's org stands where a person's token claim does: every other source must
        // agree with it.
        let (org_id, _) = resolve(services, parts, Some(serving), None)
            .await
            .map_err(|refusal| refusal.into_error())?;
        let mut agent = acting_for(services, org_id, found.agent_id).await?;
        agent.agent_name = found.agent_name;
        Ok(agent)
    }
    .await;
    match &result {
        Ok(agent) => tracing::info!(
            target: "tenancy", decision = "allow", org = %agent.org_id, agent = %agent.agent_id,
            path = %client.path,
        ),
        Err(err) => reject(services, &client, None, org_seen, err).await,
    }
    let mut agent = result?;
    within_rate_limits(services, &mut agent).await?;
    Ok(agent)
}

/// A transaction scoped to `org` and `agent`: the agent gate's, once it has admitted the agent;
/// and a worker's, for work the gate admitted earlier (the usage consumer records the events an
/// agent published; its key was checked when it published them).
pub async fn acting_for(
    services: &Services,
    org: Uuid,
    agent: Uuid,
) -> Result<AgentTenant, AppError> {
    let mut tx = super::gate::begin_scoped(services.db.pool(), "begin".to_string()).await?;
    sqlx::query!(
        "select set_config('app.org_id', $1::uuid::text, true) as org_scope,
                    set_config('app.agent_id', $2::uuid::text, true) as agent_scope",
        org,
        agent
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(AgentTenant {
        org_id: org,
        agent_id: agent,
        agent_name: String::new(),
        tx,
    })
}

/// An org's API rate limits, per minute, when its plan has none set (or it has no plan).
pub const DEFAULT_API_REQUESTS_PER_MINUTE: i64 = 600;
pub const DEFAULT_AGENT_REQUESTS_PER_MINUTE: i64 = 120;

/// The org's requests per minute, and the agent's, within its plan's limits: counted in Redis
/// (platform keys `rate:<org>:…`, which the org's own Redis user cannot reach), so every app
/// node shares the counts. Past either, 429 with the seconds until the window
/// ends. Not logged as a refusal in the audit log (a flood would flood it); the log says it.
/// Redis unreachable: the request goes on (the limits are not enforced until it is back; the
/// plan's token allowance, kept in PostgreSQL, still holds) and the log warns.
async fn within_rate_limits(services: &Services, agent: &mut AgentTenant) -> Result<(), AppError> {
    let Some(redis) = &services.stores.redis else {
        return Ok(());
    };
    let limits = sqlx::query!(
        r#"select p.api_requests_per_minute, p.agent_requests_per_minute, p.plan_name as "plan?"
             from subscription s left join plan p using (plan_name)
            where s.org_id = $1"#,
        agent.org_id
    )
    .fetch_optional(agent.conn())
    .await?;
    let (org_limit, agent_limit) = match limits {
        Some(l) if l.plan.is_some() => (
            l.api_requests_per_minute.map(i64::from),
            l.agent_requests_per_minute.map(i64::from),
        ),
        _ => (
            Some(DEFAULT_API_REQUESTS_PER_MINUTE),
            Some(DEFAULT_AGENT_REQUESTS_PER_MINUTE),
        ),
    };
    if org_limit.is_none() && agent_limit.is_none() {
        return Ok(());
    }
    // The platform's keys, outside the org's own key space (which its Redis user may write).
    let keys = [
        format!("rate:{}:api", agent.org_id.simple()),
        format!(
            "rate:{}:agent:{}",
            agent.org_id.simple(),
            agent.agent_id.simple()
        ),
    ];
    let counts = match crate::stores::redis::hits(
        &mut redis.platform(),
        &keys,
        std::time::Duration::from_secs(60),
    )
    .await
    {
        Ok(counts) => counts,
        Err(err) => {
            tracing::warn!(%err, org = %agent.org_id, "API rate limits not enforced: Redis is unreachable");
            return Ok(());
        }
    };
    let over = [org_limit, agent_limit]
        .into_iter()
        .zip(counts)
        .filter_map(|(limit, (count, ttl))| {
            limit.filter(|limit| count as i64 > *limit).map(|_| ttl)
        })
        .max();
    match over {
        None => Ok(()),
        Some(retry_after_secs) => {
            tracing::warn!(
                target: "tenancy", decision = "deny", reason = "rate limit",
                org = %agent.org_id, agent = %agent.agent_id, retry_after_secs,
            );
            Err(AppError::RateLimited { retry_after_secs })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_well_formed_unique_and_hashed() {
        let (key, prefix, hash) = new_key();
        assert_eq!(key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(hash, key_hash(&key));
        assert_eq!(hash.len(), 32);
        assert_ne!(new_key().0, key);
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        let (key, _, _) = new_key();
        for bad in [
            "",
            "tnt_",
            "tnt_abc_def",
            &key[1..],
            &key[..key.len() - 1],
            &key.replace("tnt_", "TNT_"),
            &format!("{key}0"),
            &key.to_uppercase(),
        ] {
            assert_eq!(key_prefix(bad), None, "{bad:?}");
        }
    }
}
