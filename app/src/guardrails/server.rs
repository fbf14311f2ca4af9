//! The server side of guardrails: policies under the gate (admins with the Guardrails section
//! edit them), and evaluation for an agent in the org it serves.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    eval::{self, Outcome, Policy, Rule, MAX_TEXT_CHARS},
    InterventionRow, PolicyRow,
};
use crate::{
    agents::MODELS,
    error::parse_uuid,
    tenancy::{agent::AgentTenant, gate::Gate},
    AppError,
};

pub async fn list_policies() -> Result<Vec<PolicyRow>, AppError> {
    let mut tenant = Gate::open(super::ListPolicies::PATH)?.tenant().await?;
    let org = tenant.org_id;
    let rows = sqlx::query!(
        "select policy_id, name, kind, enabled, priority, params, updated_at
           from guardrail_policy where org_id = $1 order by priority, policy_id",
        org
    )
    .fetch_all(tenant.conn())
    .await?;
    tenant.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| PolicyRow {
            id: r.policy_id.to_string(),
            name: r.name,
            kind: r.kind,
            enabled: r.enabled,
            priority: r.priority,
            params: serde_json::to_string_pretty(&r.params).unwrap_or_default(),
            updated_at: r.updated_at,
        })
        .collect())
}

pub async fn save_policy(
    policy_id: String,
    name: String,
    kind: String,
    enabled: bool,
    priority: String,
    params: String,
) -> Result<String, AppError> {
    let mut tenant = Gate::open(super::SavePolicy::PATH)?.tenant().await?;
    let mut errors = BTreeMap::new();
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errors.insert(
            "name".to_string(),
            vec!["Enter a name of at most 200 characters.".to_string()],
        );
    }
    let priority = match priority.trim().parse::<i32>() {
        Ok(p) if (0..=10_000).contains(&p) => p,
        _ => {
            errors.insert(
                "priority".to_string(),
                vec!["Enter a whole number from 0 (first) to 10000.".to_string()],
            );
            0
        }
    };
    let params: Value = match serde_json::from_str(if params.trim().is_empty() {
        "{}"
    } else {
        params.trim()
    }) {
        Ok(value) => value,
        Err(e) => {
            errors.insert(
                "params".to_string(),
                vec![format!("The parameters are not valid JSON: {e}.")],
            );
            Value::Null
        }
    };
    let kind = kind.trim().to_string();
    if !params.is_null() {
        if let Err(problems) = Rule::parse(&kind, &params, &MODELS) {
            let (kind_problems, param_problems): (Vec<_>, Vec<_>) =
                problems.into_iter().partition(|p| p.starts_with("kind:"));
            if !kind_problems.is_empty() {
                errors.insert("kind".to_string(), kind_problems);
            }
            if !param_problems.is_empty() {
                errors.insert("params".to_string(), param_problems);
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let org = tenant.org_id;
    let id = if policy_id.trim().is_empty() {
        sqlx::query_scalar!(
            "insert into guardrail_policy (org_id, name, kind, enabled, priority, params)
             values ($1, $2, $3, $4, $5, $6) returning policy_id",
            org,
            name,
            kind,
            enabled,
            priority,
            params
        )
        .fetch_one(tenant.conn())
        .await?
    } else {
        let id = parse_uuid(&policy_id, "policy_id", "a policy")?;
        sqlx::query_scalar!(
            "update guardrail_policy
                set name = $3, kind = $4, enabled = $5, priority = $6, params = $7,
                    updated_at = now()
              where org_id = $1 and policy_id = $2 returning policy_id",
            org,
            id,
            name,
            kind,
            enabled,
            priority,
            params
        )
        .fetch_optional(tenant.conn())
        .await?
        .ok_or_else(|| AppError::NotFound("The policy".to_string()))?
    };
    tenant
        .audit(
            "guardrail.save",
            &id.to_string(),
            json!({ "name": name, "kind": kind, "enabled": enabled, "priority": priority }),
        )
        .await?;
    tenant.commit().await?;
    Ok(id.to_string())
}

pub async fn delete_policy(policy_id: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::DeletePolicy::PATH)?.tenant().await?;
    let id = parse_uuid(policy_id, "policy_id", "a policy")?;
    let org = tenant.org_id;
    let deleted = sqlx::query!(
        "delete from guardrail_policy where org_id = $1 and policy_id = $2",
        org,
        id
    )
    .execute(tenant.conn())
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound("The policy".to_string()));
    }
    tenant
        .audit("guardrail.delete", &id.to_string(), json!({}))
        .await?;
    tenant.commit().await
}

pub async fn list_interventions(action: String) -> Result<Vec<InterventionRow>, AppError> {
    let mut tenant = Gate::open(super::ListInterventions::PATH)?.tenant().await?;
    let org = tenant.org_id;
    let action = match action.trim() {
        "block" | "redact" => Some(action.trim().to_string()),
        _ => None,
    };
    let rows = sqlx::query!(
        r#"select i.intervention_id, a.name as "agent_name?", i.policy_name, i.action,
                  i.escalated, i.reason, i.excerpt, i.created_at
             from guardrail_intervention i left join agent a on a.agent_id = i.agent_id
            where i.org_id = $1 and ($2::text is null or i.action = $2)
            order by i.created_at desc limit 200"#,
        org,
        action
    )
    .fetch_all(tenant.conn())
    .await?;
    tenant.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| InterventionRow {
            id: r.intervention_id.to_string(),
            agent_name: r.agent_name,
            policy_name: r.policy_name,
            action: r.action,
            escalated: r.escalated,
            reason: r.reason,
            excerpt: r.excerpt,
            created_at: r.created_at,
        })
        .collect())
}

/// The org's enabled policies, parsed. A stored policy that no longer parses (a model since
/// retired, say) is skipped and logged rather than failing every evaluation.
async fn org_policies(conn: &mut PgConnection, org: Uuid) -> Result<Vec<Policy>, AppError> {
    let rows = sqlx::query!(
        "select policy_id, name, kind, priority, params from guardrail_policy
          where org_id = $1 and enabled order by priority, policy_id",
        org
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match Rule::parse(&r.kind, &r.params, &MODELS) {
            Ok(rule) => Some(Policy {
                id: r.policy_id.to_string(),
                name: r.name,
                priority: r.priority,
                enabled: true,
                rule,
            }),
            Err(problems) => {
                tracing::warn!(policy = %r.policy_id, ?problems, "skipping a guardrail that no longer parses");
                None
            }
        })
        .collect())
}

/// Evaluates `text` for the calling agent against its org's policies and logs a block or a
/// redaction as an intervention, in the agent's transaction.
pub async fn evaluate_for(
    agent: &mut AgentTenant,
    text: &str,
    model: Option<&str>,
) -> Result<Outcome, AppError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(AppError::field(
            "text",
            format!("Send at most {MAX_TEXT_CHARS} characters (this has {chars})."),
        ));
    }
    if let Some(model) = model {
        if !MODELS.contains(&model) {
            return Err(AppError::field(
                "model",
                format!(
                    "{model:?} is not a known model (known: {}).",
                    MODELS.join(", ")
                ),
            ));
        }
    }
    let org = agent.org_id;
    let policies = org_policies(agent.conn(), org).await?;
    let outcome = eval::evaluate(&policies, text, model);
    if outcome.action != eval::Action::Allow {
        let agent_id = agent.agent_id;
        let policy_id = outcome
            .policy_id
            .as_deref()
            .and_then(|p| p.parse::<Uuid>().ok());
        // The text as it leaves: redacted where it was redacted, so the log keeps no PII a
        // policy removed; a blocked text never left, and its excerpt is stripped of every kind
        // of PII all the same (the log is read by more people than the agent's conversation).
        let logged = if outcome.action == eval::Action::Block {
            eval::redact(
                &outcome.text,
                &[eval::Pii::Email, eval::Pii::Card, eval::Pii::Phone],
            )
            .0
        } else {
            outcome.text.clone()
        };
        let excerpt: String = logged.chars().take(200).collect();
        sqlx::query!(
            "insert into guardrail_intervention
               (org_id, agent_id, policy_id, policy_name, action, escalated, reason, excerpt)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            org,
            agent_id,
            policy_id,
            outcome.policy_name.clone().unwrap_or_default(),
            outcome.action.to_string(),
            outcome.escalated,
            outcome.reason.clone().unwrap_or_default(),
            excerpt
        )
        .execute(agent.conn())
        .await?;
    }
    Ok(outcome)
}
