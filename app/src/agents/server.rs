//! The server side of agents: the registry (superadmins, through the platform path), an org's
//! agents (through the gate, under row-level security), assignment and API keys.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use uuid::Uuid;

use super::{
    AgentChoice, AgentKey, AgentPage, AgentRow, IssuedKey, OrgAgentList, MODELS, PAGE_SIZE,
};
use crate::{
    error::parse_uuid,
    orgs::escape_like,
    tenancy::{
        agent::{new_key, KEY_PREFIX},
        gate::{Access, Gate, Platform, Tenant},
    },
    AppError,
};

/// The status people see: an agent of a disabled org is stopped.
fn effective(status: String, org_active: Option<bool>) -> String {
    if org_active == Some(false) {
        "stopped".to_string()
    } else {
        status
    }
}

pub async fn list(q: String, page: i64, scope: &str) -> Result<AgentPage, AppError> {
    let gate = Gate::open(super::ListAgents::PATH)?;
    let q: String = q.trim().chars().take(100).collect();
    let page = crate::ui::clamp_page(page);
    let search = (!q.is_empty()).then(|| escape_like(&q));
    let offset = ((page - 1) * PAGE_SIZE).min(i32::MAX as i64) as i32;
    let mut tenant = match gate.platform_or_tenant().await? {
        Access::Tenant(tenant) => tenant,
        Access::Platform(platform) => {
            return registry(&platform, q, page, search, offset, scope).await
        }
    };
    let org = tenant.org_id;
    let org_name = sqlx::query_scalar!("select name from organization where org_id = $1", org)
        .fetch_one(tenant.conn())
        .await?;
    let (rows, matching) = org_rows(&mut tenant, search.as_deref(), offset).await?;
    tenant.commit().await?;
    Ok(AgentPage {
        q,
        page,
        rows,
        matching,
        registry: false,
        org_name: Some(org_name),
        scope: String::new(),
    })
}

/// The agents on the platform, assigned or not (superadmins): those of the org they act in and
/// those free to assign (under the org switcher, unless `scope` asks otherwise), only those no
/// org has, or all.
async fn registry(
    platform: &Platform,
    q: String,
    page: i64,
    search: Option<String>,
    offset: i32,
    scope: &str,
) -> Result<AgentPage, AppError> {
    let active = platform.principal().active_org;
    // Its name, for the page (the switcher's list of orgs stops at its limit).
    let acting = match active {
        Some(org) => match platform.act_in(org).await {
            Ok(mut tenant) => {
                let name =
                    sqlx::query_scalar!("select name from organization where org_id = $1", org)
                        .fetch_optional(tenant.conn())
                        .await?;
                tenant.end_read();
                name
            }
            Err(_) => None,
        },
        None => None,
    };
    let (scope, org) = match scope {
        "all" => ("all", None),
        "unassigned" => ("unassigned", None),
        // The default under the org switcher; with no org chosen, every agent.
        _ => match (active, &acting) {
            (Some(org), Some(_)) => ("org", Some(org)),
            _ => ("all", None),
        },
    };
    {
        let rows = sqlx::query!(
            r#"select agent_id as "agent_id!", name as "name!", email as "email!",
                      model as "model!", status as "status!", org_id, org_name, org_active,
                      created_at as "created_at!", keys as "keys!", total as "total!"
                 from platform.agent_registry_in($1, $2, $3, $4, $5)"#,
            search,
            org,
            scope == "unassigned",
            PAGE_SIZE as i32,
            offset
        )
        .fetch_all(platform.pool())
        .await?;
        let matching = rows.first().map(|r| r.total).unwrap_or(0);
        Ok(AgentPage {
            q,
            page,
            matching,
            registry: true,
            org_name: acting,
            scope: scope.to_string(),
            rows: rows
                .into_iter()
                .map(|r| AgentRow {
                    id: r.agent_id.to_string(),
                    name: r.name,
                    email: r.email,
                    model: r.model,
                    status: effective(r.status, r.org_active),
                    org_id: r.org_id.map(|o| o.to_string()),
                    org_name: r.org_name,
                    created_at: r.created_at,
                    keys: r.keys,
                })
                .collect(),
        })
    }
}

/// The org's agents, read under its row-level security scope.
async fn org_rows(
    tenant: &mut Tenant,
    search: Option<&str>,
    offset: i32,
) -> Result<(Vec<AgentRow>, i64), AppError> {
    let org = tenant.org_id;
    let rows = sqlx::query!(
        r#"select a.agent_id, a.name, a.email, a.model, a.status, a.created_at,
                  o.name as org_name, o.status = 'active' as "org_active!",
                  count(*) over () as "total!"
             from agent a join organization o on o.org_id = a.org_id
            where a.org_id = $1
              and ($2::text is null or a.name ilike '%' || $2 || '%' or a.email ilike '%' || $2 || '%')
            order by lower(a.name), a.email
            limit $3 offset $4"#,
        org,
        search,
        PAGE_SIZE,
        offset as i64
    )
    .fetch_all(tenant.conn())
    .await?;
    let total = rows.first().map(|r| r.total).unwrap_or(0);
    Ok((
        rows.into_iter()
            .map(|r| AgentRow {
                id: r.agent_id.to_string(),
                name: r.name,
                email: r.email,
                model: r.model,
                status: effective(r.status, Some(r.org_active)),
                org_id: Some(org.to_string()),
                org_name: Some(r.org_name),
                created_at: r.created_at,
                keys: 0,
            })
            .collect(),
        total,
    ))
}

pub async fn create(name: String, email: String, model: String) -> Result<IssuedKey, AppError> {
    let platform = Gate::open(super::CreateAgent::PATH)?.platform().await?;
    let mut errors = BTreeMap::new();
    let name = name.trim().to_string();
    if name.is_empty() {
        errors.insert("name".to_string(), vec!["Enter a name.".to_string()]);
    } else if name.chars().count() > 200 {
        errors.insert(
            "name".to_string(),
            vec!["Use at most 200 characters.".to_string()],
        );
    }
    let email = email.trim().to_lowercase();
    if let Some(problem) = crate::auth::email_problem(&email) {
        errors.insert("email".to_string(), vec![problem]);
    }
    let model = model.trim().to_string();
    if !MODELS.contains(&model.as_str()) {
        errors.insert(
            "model".to_string(),
            vec![format!("Choose one of the models: {}.", MODELS.join(", "))],
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let principal = platform.principal();
    let mut tx = platform.begin().await?;
    let agent_id = sqlx::query_scalar!(
        r#"select platform.create_agent($1, $2, $3, $4) as "id!""#,
        name,
        email,
        model,
        principal.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let issued = issue_in(&mut tx, agent_id, "first key", principal.user_id).await?;
    sqlx::query!(
        "select platform.record_audit(null, $1, 'agent.create', $2, $3, $4, $5)",
        principal.user_id,
        email,
        principal.client.ip,
        principal.client.user_agent,
        json!({ "agent_id": agent_id, "model": model })
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(issued)
}

async fn issue_in(
    conn: &mut sqlx::PgConnection,
    agent_id: Uuid,
    label: &str,
    by: Uuid,
) -> Result<IssuedKey, AppError> {
    let (key, prefix, hash) = new_key();
    let key_id = sqlx::query_scalar!(
        r#"select platform.issue_agent_key($1, $2, $3, $4, $5) as "id!""#,
        agent_id,
        prefix,
        hash,
        label,
        by
    )
    .fetch_one(conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
            AppError::NotFound("The agent".to_string())
        }
        _ => e.into(),
    })?;
    Ok(IssuedKey {
        agent_id: agent_id.to_string(),
        key_id: key_id.to_string(),
        key,
    })
}

pub async fn issue_key(agent_id: &str, label: String) -> Result<IssuedKey, AppError> {
    let platform = Gate::open(super::IssueKey::PATH)?.platform().await?;
    let agent_id = parse_uuid(agent_id, "agent_id", "an agent")?;
    let label: String = label.trim().chars().take(100).collect();
    let principal = platform.principal();
    let mut tx = platform.begin().await?;
    let issued = issue_in(&mut tx, agent_id, &label, principal.user_id).await?;
    platform
        .audit(
            &mut tx,
            "agent.key_issue",
            &agent_id.to_string(),
            json!({
                "key_id": issued.key_id, "label": label,
            }),
        )
        .await?;
    tx.commit().await?;
    tracing::info!(agent = %agent_id, "agent key issued");
    Ok(issued)
}

pub async fn keys(agent_id: &str) -> Result<Vec<AgentKey>, AppError> {
    let platform = Gate::open(super::AgentKeys::PATH)?.platform().await?;
    let agent_id = parse_uuid(agent_id, "agent_id", "an agent")?;
    let rows = sqlx::query!(
        r#"select key_id as "key_id!", prefix as "prefix!", label as "label!",
                  created_at as "created_at!", last_used_at, revoked_at
             from platform.agent_keys($1)"#,
        agent_id
    )
    .fetch_all(platform.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AgentKey {
            id: r.key_id.to_string(),
            prefix: format!("{KEY_PREFIX}{}_…", r.prefix),
            label: r.label,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

pub async fn revoke_key(key_id: &str) -> Result<(), AppError> {
    let platform = Gate::open(super::RevokeKey::PATH)?.platform().await?;
    let key_id = parse_uuid(key_id, "key_id", "a key")?;
    let mut tx = platform.begin().await?;
    let revoked = sqlx::query_scalar!("select platform.revoke_agent_key($1)", key_id)
        .fetch_one(&mut *tx)
        .await?;
    if revoked != Some(true) {
        return Err(AppError::NotFound("An unrevoked key".to_string()));
    }
    platform
        .audit(&mut tx, "agent.key_revoke", &key_id.to_string(), json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn org_agents(org_id: &str) -> Result<OrgAgentList, AppError> {
    org_agents_in(Gate::open(super::OrgAgents::PATH)?, org_id).await
}

/// The org's agents, and for a superadmin the unassigned pool to assign from: the pool is the
/// platform's, so nobody else sees it.
pub async fn org_agents_in(gate: Gate, org_id: &str) -> Result<OrgAgentList, AppError> {
    let mut tenant = gate.tenant_in(org_id).await?;
    let (assigned, _) = org_rows(&mut tenant, None, 0).await?;
    let can_assign = tenant.grant.superadmin;
    let unassigned = if can_assign {
        sqlx::query!(
            r#"select agent_id as "agent_id!", name as "name!", email as "email!",
                      model as "model!"
                 from platform.unassigned_agents()"#
        )
        .fetch_all(tenant.conn())
        .await?
        .into_iter()
        .map(|r| AgentChoice {
            id: r.agent_id.to_string(),
            name: r.name,
            email: r.email,
            model: r.model,
        })
        .collect()
    } else {
        Vec::new()
    };
    tenant.commit().await?;
    Ok(OrgAgentList {
        assigned,
        unassigned,
        can_assign,
    })
}

/// Assigns an agent from the platform's pool (superadmins).
pub async fn assign(org_id: &str, agent_id: &str) -> Result<(), AppError> {
    let platform = Gate::open(super::AssignAgent::PATH)?.platform().await?;
    let org_id = parse_uuid(org_id, "org_id", "an organization")?;
    let mut tenant = platform.act_in(org_id).await?;
    let agent_id = parse_uuid(agent_id, "agent_id", "an agent")?;
    let serving = sqlx::query_scalar!("select platform.assign_agent($1)", agent_id)
        .fetch_one(tenant.conn())
        .await?
        .ok_or_else(|| AppError::NotFound("The agent".to_string()))?;
    if serving != tenant.org_id {
        let other = sqlx::query_scalar!("select platform.org_label($1)", serving)
            .fetch_one(tenant.conn())
            .await?
            .unwrap_or_default();
        return Err(AppError::Conflict(format!(
            "This agent is already assigned to {other}; unassign it there first."
        )));
    }
    tenant
        .audit("agent.assign", &agent_id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

/// Releases an agent back to the platform's pool (the org's agent admins, superadmins).
pub async fn unassign(org_id: &str, agent_id: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::UnassignAgent::PATH)?
        .tenant_in(org_id)
        .await?;
    let agent_id = parse_uuid(agent_id, "agent_id", "an agent")?;
    let done = sqlx::query_scalar!(r#"select platform.unassign_agent($1) as "done!""#, agent_id)
        .fetch_one(tenant.conn())
        .await?;
    if !done {
        return Err(AppError::NotFound(
            "An agent assigned to this organization".to_string(),
        ));
    }
    tenant
        .audit("agent.unassign", &agent_id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

/// Agents assigned to the org the connection is scoped to (the delete check).
pub async fn assigned_count(conn: &mut sqlx::PgConnection, org_id: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from agent where org_id = $1"#,
        org_id
    )
    .fetch_one(conn)
    .await?)
}
