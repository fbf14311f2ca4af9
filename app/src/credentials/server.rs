//! The server side of credentials: the org's owners and admins (and superadmins) with the
//! Agents section manage them; agents read the ones meant for them.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use uuid::Uuid;

use super::{CredentialRow, KINDS, MAX_SECRET_CHARS};
use crate::{
    error::parse_uuid,
    tenancy::{agent::AgentTenant, gate::Gate},
    AppError,
};

fn masked(last4: &str) -> String {
    format!("••••{last4}")
}

/// The detail view's tab: the credentials, the agents one may be scoped to, and the org's LLM
/// keys.
pub async fn list(org_id: &str) -> Result<super::CredentialTab, AppError> {
    let mut tenant = Gate::open(super::ListCredentials::PATH)?
        .tenant_in(org_id)
        .await?;
    let org = tenant.org_id;
    let rows = sqlx::query!(
        r#"select c.credential_id, c.name, c.kind, c.agent_id, a.name as "agent_name?",
                  c.last4, c.updated_at
             from credential c left join agent a on a.agent_id = c.agent_id
            where c.org_id = $1
            order by c.name, a.name nulls first"#,
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    let agents = sqlx::query!(
        "select agent_id, name from agent where org_id = $1 order by lower(name)",
        org
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|a| (a.agent_id.to_string(), a.name))
    .collect();
    let llm = crate::llm_keys::server::tab_in(&mut tenant).await?;
    tenant.commit().await?;
    Ok(super::CredentialTab {
        agents,
        llm,
        rows: rows
            .into_iter()
            .map(|r| CredentialRow {
                id: r.credential_id.to_string(),
                name: r.name,
                kind: r.kind,
                agent_id: r.agent_id.map(|a| a.to_string()),
                agent_name: r.agent_name,
                masked: masked(&r.last4),
                updated_at: r.updated_at,
            })
            .collect(),
    })
}

pub async fn save(
    org_id: &str,
    name: String,
    kind: String,
    agent_id: String,
    secret: String,
) -> Result<String, AppError> {
    let gate = Gate::open(super::SaveCredential::PATH)?;
    let services = gate.services().clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let mut errors = BTreeMap::new();
    let name = name.trim().to_lowercase();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !valid_name {
        errors.insert(
            "name".to_string(),
            vec![
                "Use 1 to 64 lower-case letters, digits, '.', '_' or '-', like stripe_api."
                    .to_string(),
            ],
        );
    }
    let kind = kind.trim().to_string();
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        errors.insert(
            "kind".to_string(),
            vec!["Choose API key, access token, password or webhook secret.".to_string()],
        );
    }
    let chars = secret.chars().count();
    if secret.trim().is_empty() || chars > MAX_SECRET_CHARS {
        errors.insert(
            "secret".to_string(),
            vec![format!(
                "Enter the secret (at most {MAX_SECRET_CHARS} characters)."
            )],
        );
    }
    let agent = match agent_id.trim() {
        "" => None,
        id => match Uuid::parse_str(id) {
            Ok(id) => {
                // Under the org's scope only its own agents are visible.
                let serves = sqlx::query_scalar!(
                    r#"select exists (select from agent where agent_id = $1 and org_id = $2) as "serves!""#,
                    id,
                    org
                )
                .fetch_one(tenant.conn())
                .await?;
                if !serves {
                    errors.insert(
                        "agent_id".to_string(),
                        vec!["This agent does not serve this organization.".to_string()],
                    );
                }
                Some(id)
            }
            Err(_) => {
                errors.insert(
                    "agent_id".to_string(),
                    vec!["This is not an agent id.".to_string()],
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let last4 = super::cipher::shown_tail(&secret);
    let (nonce, ciphertext) = services.credentials.seal(org, agent, &name, &secret)?;
    let me = tenant.principal.user_id;
    let replaced = sqlx::query_scalar!(
        "update credential set kind = $4, nonce = $5, ciphertext = $6, last4 = $7,
                updated_at = now()
          where org_id = $1 and agent_id is not distinct from $2 and name = $3
          returning credential_id",
        org,
        agent,
        name,
        kind,
        nonce,
        ciphertext,
        last4
    )
    .fetch_optional(tenant.conn())
    .await?;
    let id = match replaced {
        Some(id) => id,
        None => sqlx::query_scalar!(
            "insert into credential (org_id, agent_id, name, kind, nonce, ciphertext, last4, created_by)
             values ($1, $2, $3, $4, $5, $6, $7, $8) returning credential_id",
            org,
            agent,
            name,
            kind,
            nonce,
            ciphertext,
            last4,
            me
        )
        .fetch_one(tenant.conn())
        .await?,
    };
    tenant
        .audit(
            "credential.save",
            &id.to_string(),
            json!({ "name": name, "kind": kind, "agent_id": agent, "replaced": replaced.is_some() }),
        )
        .await?;
    tenant.commit().await?;
    Ok(masked(&last4))
}

pub async fn delete(org_id: &str, credential_id: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::DeleteCredential::PATH)?
        .tenant_in(org_id)
        .await?;
    let id = parse_uuid(credential_id, "credential_id", "a credential")?;
    let org = tenant.org_id;
    let deleted = sqlx::query!(
        "delete from credential where org_id = $1 and credential_id = $2",
        org,
        id
    )
    .execute(tenant.conn())
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound("The credential".to_string()));
    }
    tenant
        .audit("credential.delete", &id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

/// The secret named `name` for the calling agent: its own credential of that name, else the
/// org's. Never another agent's, never another org's.
pub async fn reveal_for(
    agent: &mut AgentTenant,
    cipher: &super::cipher::Cipher,
    name: &str,
) -> Result<String, AppError> {
    let org = agent.org_id;
    let me = agent.agent_id;
    let name = name.trim().to_lowercase();
    let row = sqlx::query!(
        "select agent_id, nonce, ciphertext from credential
          where org_id = $1 and name = $2 and (agent_id = $3 or agent_id is null)
          order by agent_id nulls last limit 1",
        org,
        name,
        me
    )
    .fetch_optional(agent.conn())
    .await?
    .ok_or_else(|| AppError::NotFound(format!("A credential named {name:?} for this agent")))?;
    let secret = cipher.open(org, row.agent_id, &name, &row.nonce, &row.ciphertext)?;
    // Every secret an agent is handed is on the org's log, like an LLM key: which agent took
    // which credential (its own or the org's), never the secret.
    agent
        .audit(
            "credential.reveal",
            &name,
            json!({ "own": row.agent_id.is_some() }),
        )
        .await?;
    Ok(secret)
}
