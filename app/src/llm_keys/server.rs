//! The server side of LLM keys: saved and deleted by an org's admins (org keys) or by a member
//! for themself (user keys), resolved for agents.

use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{provider_label, resolve, LlmKeyRow, LlmKeys, OwnKeyList, Source, PROVIDERS};
use crate::{
    context::{services, Services},
    credentials::cipher::shown_tail,
    error::parse_uuid,
    tenancy::{
        agent::AgentTenant,
        gate::{self, request_parts, Tenant},
    },
    AppError,
};

/// Longest key, in characters.
pub const MAX_KEY_CHARS: usize = 4096;

/// What the cipher binds a key's ciphertext to besides the org and the user.
fn aad_name(provider: &str) -> String {
    format!("llm:{provider}")
}

fn masked(last4: &str) -> String {
    format!("••••{last4}")
}

async fn member_in(services: &Services, parts: &Parts, org_id: &str) -> Result<Tenant, AppError> {
    let org = parse_uuid(org_id, "org_id", "an organization")?;
    gate::manage(services, parts, org).await
}

/// The org's "allow user keys" policy (on until an admin switches it off).
async fn allows_user_keys(conn: &mut sqlx::PgConnection, org: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        "select allow_user_llm_keys from org_account where org_id = $1",
        org
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(true))
}

/// The Credentials tab's LLM section: the org's keys and its members' (masked), and the policy.
pub async fn tab_in(tenant: &mut Tenant) -> Result<LlmKeys, AppError> {
    let org = tenant.org_id;
    let allow_user_keys = allows_user_keys(tenant.conn(), org).await?;
    let keys = sqlx::query!(
        r#"select k.llm_key_id, k.provider, u.email as "email?", k.last4, k.updated_at
             from llm_key k left join app_user u on u.user_id = k.user_id
            where k.org_id = $1
            order by k.user_id nulls first, u.email, k.provider"#,
        org
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|k| LlmKeyRow {
        id: k.llm_key_id.to_string(),
        provider: k.provider,
        user: k.email,
        masked: masked(&k.last4),
        updated_at: k.updated_at,
    })
    .collect();
    Ok(LlmKeys {
        allow_user_keys,
        keys,
    })
}

/// The caller's own keys in the org they are acting in, and whether the org lets agents use them.
pub async fn own() -> Result<OwnKeyList, AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let mut tenant = gate::tenant(&services, &parts, None).await?;
    let (org, user) = (tenant.org_id, tenant.principal.user_id);
    let org_name = sqlx::query_scalar!("select name from organization where org_id = $1", org)
        .fetch_one(tenant.conn())
        .await?;
    let allow_user_keys = allows_user_keys(tenant.conn(), org).await?;
    let keys = sqlx::query!(
        "select llm_key_id, provider, last4, updated_at from llm_key
          where org_id = $1 and user_id = $2 order by provider",
        org,
        user
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|k| LlmKeyRow {
        id: k.llm_key_id.to_string(),
        provider: k.provider,
        user: None,
        masked: masked(&k.last4),
        updated_at: k.updated_at,
    })
    .collect();
    tenant.commit().await?;
    Ok(OwnKeyList {
        org_id: org.to_string(),
        org_name,
        allow_user_keys,
        keys,
    })
}

pub async fn save(
    org_id: &str,
    provider: &str,
    scope: &str,
    key: &str,
) -> Result<String, AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let mut tenant = member_in(&services, &parts, org_id).await?;
    let user = match scope.trim() {
        "organization" | "" => {
            tenant.require_admin()?;
            None
        }
        "user" => Some(tenant.principal.user_id),
        _ => {
            return Err(AppError::field(
                "scope",
                "Choose the organization or yourself.",
            ))
        }
    };
    let provider = provider.trim();
    if !PROVIDERS.iter().any(|(p, _)| *p == provider) {
        return Err(AppError::field(
            "provider",
            "Choose OpenAI, Anthropic, Google, Mistral or Azure OpenAI.",
        ));
    }
    let key = key.trim();
    let chars = key.chars().count();
    if !(8..=MAX_KEY_CHARS).contains(&chars) || key.chars().any(char::is_whitespace) {
        return Err(AppError::field(
            "key",
            format!("Paste the whole key: 8 to {MAX_KEY_CHARS} characters, no spaces."),
        ));
    }
    let org = tenant.org_id;
    let last4 = shown_tail(key);
    let (nonce, ciphertext) = services
        .credentials
        .seal(org, user, &aad_name(provider), key)?;
    sqlx::query!(
        "insert into llm_key (org_id, user_id, provider, nonce, ciphertext, last4)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (org_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), provider)
         do update set nonce = $4, ciphertext = $5, last4 = $6, updated_at = now()",
        org,
        user,
        provider,
        nonce,
        ciphertext,
        last4
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit(
            "llm_key.save",
            provider,
            json!({ "scope": if user.is_some() { "user" } else { "organization" } }),
        )
        .await?;
    tenant.commit().await?;
    Ok(masked(&last4))
}

pub async fn delete(org_id: &str, key_id: &str) -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let mut tenant = member_in(&services, &parts, org_id).await?;
    let id = parse_uuid(key_id, "llm_key_id", "an LLM key")?;
    let org = tenant.org_id;
    let owner = sqlx::query_scalar!(
        "select user_id from llm_key where org_id = $1 and llm_key_id = $2",
        org,
        id
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("The key".to_string()))?;
    // Members delete their own keys; admins any of the org's.
    if owner != Some(tenant.principal.user_id) {
        tenant.require_admin()?;
    }
    sqlx::query!(
        "delete from llm_key where org_id = $1 and llm_key_id = $2",
        org,
        id
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("llm_key.delete", &id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

pub async fn set_allow(org_id: &str, allow: bool) -> Result<(), AppError> {
    let services = services()?;
    let parts = request_parts()?;
    let mut tenant = member_in(&services, &parts, org_id).await?;
    tenant.require_admin()?;
    let org = tenant.org_id;
    sqlx::query!(
        "update org_account set allow_user_llm_keys = $2 where org_id = $1",
        org,
        allow
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("llm_key.policy", "", json!({ "allow_user_keys": allow }))
        .await?;
    tenant.commit().await
}

/// Which key an agent should use for a provider, and why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Resolved {
    pub provider: String,
    pub source: Source,
    pub reason: String,
    pub key: String,
}

/// Resolves the key for the calling agent, acting for `user` (a member of its org) if given.
pub async fn key_for(
    agent: &mut AgentTenant,
    services: &Services,
    provider: &str,
    user: Option<&str>,
) -> Result<Resolved, AppError> {
    let provider = provider.trim();
    if !PROVIDERS.iter().any(|(p, _)| *p == provider) {
        return Err(AppError::field(
            "provider",
            "Name a provider: openai, anthropic, google, mistral or azure_openai.",
        ));
    }
    let org = agent.org_id;
    let user = match user.map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(id) => {
            let id = parse_uuid(id, "user_id", "a user")?;
            let member = sqlx::query_scalar!(
                r#"select exists (select from membership where org_id = $1 and user_id = $2) as "m!""#,
                org,
                id
            )
            .fetch_one(agent.conn())
            .await?;
            if !member {
                return Err(AppError::field(
                    "user_id",
                    "This user is not a member of the agent's organization.",
                ));
            }
            Some(id)
        }
    };
    let allow = allows_user_keys(agent.conn(), org).await?;
    let rows = sqlx::query!(
        "select user_id, nonce, ciphertext from llm_key
          where org_id = $1 and provider = $2 and (user_id is null or user_id = $3)",
        org,
        provider,
        user
    )
    .fetch_all(agent.conn())
    .await?;
    // A candidate is a stored key (its owner, to decrypt with) or the environment's.
    #[derive(Clone, Copy)]
    enum Candidate<'a> {
        Stored(Option<Uuid>, &'a [u8], &'a [u8]),
        Environment(&'a str),
    }
    let stored = |u: Option<Uuid>| {
        rows.iter()
            .find(|r| r.user_id == u)
            .map(|r| Candidate::Stored(u, &r.nonce, &r.ciphertext))
    };
    let user_key = user.and_then(|u| stored(Some(u)));
    let org_key = stored(None);
    let env_key = services
        .llm_env_keys
        .get(provider)
        .map(|k| Candidate::Environment(k));
    let (choice, reason) = resolve(
        provider,
        user_key.as_ref(),
        allow,
        org_key.as_ref(),
        env_key.as_ref(),
    );
    let Some((source, candidate)) = choice else {
        return Err(AppError::NotFound(format!(
            "A {} key for this agent ({reason})",
            provider_label(provider)
        )));
    };
    let key = match candidate {
        Candidate::Stored(owner, nonce, ciphertext) => {
            services
                .credentials
                .open(org, owner, &aad_name(provider), nonce, ciphertext)?
        }
        Candidate::Environment(key) => key.to_string(),
    };
    // Every handout is on the org's audit log: which agent took which key, for whom.
    sqlx::query!(
        "insert into audit_event (org_id, action, target, details)
         values ($1, 'llm_key.handout', $2, $3)",
        org,
        provider,
        json!({
            "agent_id": agent.agent_id,
            "agent": agent.agent_name,
            "source": source,
            "for_user_id": user,
        })
    )
    .execute(agent.conn())
    .await?;
    tracing::info!(target: "llm_keys", org = %org, agent = %agent.agent_id, provider, ?source, "key handed out");
    Ok(Resolved {
        provider: provider.to_string(),
        source,
        reason,
        key,
    })
}
