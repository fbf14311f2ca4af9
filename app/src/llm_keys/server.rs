//! The server side of LLM keys: saved and deleted by an org's admins (org keys) or by a member
//! for themself (user keys), resolved for agents.

use leptos::server_fn::ServerFn;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{provider_label, resolve, LlmKeyRow, LlmKeys, OwnKeyList, Source, PROVIDERS};
use crate::{
    context::Services,
    credentials::cipher::shown_tail,
    error::parse_uuid,
    tenancy::{
        agent::AgentTenant,
        gate::{Gate, Tenant},
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
    let mut tenant = Gate::open(super::OwnLlmKeys::PATH)?.tenant().await?;
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

/// Saves the org's key (`own` false) or the caller's own (`own` true), through `gate`.
pub async fn save(
    gate: Gate,
    org_id: &str,
    provider: &str,
    key: &str,
    own: bool,
) -> Result<String, AppError> {
    let services = gate.services().clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let user = own.then_some(tenant.principal.user_id);
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

/// Deletes a key of the org's (`own` false: any, members' included) or one of the caller's.
pub async fn delete(gate: Gate, org_id: &str, key_id: &str, own: bool) -> Result<(), AppError> {
    let mut tenant = gate.tenant_in(org_id).await?;
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
    // Through the own-key endpoint, only the caller's own (others' are not theirs to know).
    if own && owner != Some(tenant.principal.user_id) {
        return Err(AppError::NotFound("The key".to_string()));
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
    let mut tenant = Gate::open(super::SetAllowUserKeys::PATH)?
        .tenant_in(org_id)
        .await?;
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
            let active = sqlx::query_scalar!(
                r#"select u.status = 'active' as "active!"
                     from membership m join app_user u on u.user_id = m.user_id
                    where m.org_id = $1 and m.user_id = $2"#,
                org,
                id
            )
            .fetch_optional(agent.conn())
            .await?;
            match active {
                None => {
                    return Err(AppError::field(
                        "user_id",
                        "This user is not a member of the agent's organization.",
                    ))
                }
                Some(active) => Some((id, active)),
            }
        }
    };
    // A disabled member's own key is not handed out; the org's may be, for them.
    let (user, user_active) = match user {
        Some((id, active)) => (Some(id), active),
        None => (None, false),
    };
    // The server's own keys only while the org is within its token allowance, and only if its
    // plan allows them at all.
    let server_keys = sqlx::query!(
        r#"select coalesce((select t.quota is null or t.used < t.quota
                              from org_allowances($1) t where t.resource = 'tokens'), true)
                    as "within!",
                  coalesce((select p.server_llm_keys from subscription s
                              join plan p on p.plan_name = s.plan_name
                             where s.org_id = $1), true) as "plan_allows!""#,
        org
    )
    .fetch_one(agent.conn())
    .await?;
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
    let user_key = user.filter(|_| user_active).and_then(|u| stored(Some(u)));
    let org_key = stored(None);
    let env_key = services
        .llm_env_keys
        .get(provider)
        .filter(|_| server_keys.within && server_keys.plan_allows)
        .map(|k| Candidate::Environment(k));
    let (choice, reason) = resolve(
        provider,
        user_key.as_ref(),
        allow,
        org_key.as_ref(),
        env_key.as_ref(),
    );
    let Some((source, candidate)) = choice else {
        let why = if !server_keys.plan_allows && services.llm_env_keys.contains_key(provider) {
            "the organization's plan does not include the platform's keys".to_string()
        } else if !server_keys.within && services.llm_env_keys.contains_key(provider) {
            "the organization has used its monthly token allowance, so the platform's key is \
             not handed out"
                .to_string()
        } else {
            reason
        };
        return Err(AppError::NotFound(format!(
            "A {} key for this agent ({why})",
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
    agent
        .audit(
            "llm_key.handout",
            provider,
            json!({ "source": source, "for_user_id": user }),
        )
        .await?;
    tracing::info!(target: "llm_keys", org = %org, agent = %agent.agent_id, provider, ?source, "key handed out");
    Ok(Resolved {
        provider: provider.to_string(),
        source,
        reason,
        key,
    })
}
