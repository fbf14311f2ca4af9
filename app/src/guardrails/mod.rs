//! Guardrails: each org's policies (blocked topics, PII redaction, maximum length, allowed
//! models, escalation), evaluated in priority order for the org's agents
//! (`POST /api/v1/guardrails/evaluate`), and the interventions they made.

#[cfg(feature = "ssr")]
pub mod eval;
mod page;
#[cfg(feature = "ssr")]
pub mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{GuardrailsPage, PolicyEditor};

use crate::AppError;

/// The kinds of policy: (stored value, label).
pub const KINDS: [(&str, &str); 5] = [
    ("blocked_topics", "Blocked topics or keywords"),
    ("pii_redaction", "PII redaction"),
    ("max_length", "Maximum response length"),
    ("allowed_models", "Allowed models"),
    ("escalate", "Escalate to a human"),
];

/// A policy as the Guardrails page lists and edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub priority: i32,
    /// The parameters as JSON text.
    pub params: String,
    pub updated_at: DateTime<Utc>,
}

/// One logged intervention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionRow {
    pub id: String,
    pub agent_name: Option<String>,
    pub policy_name: String,
    pub action: String,
    pub escalated: bool,
    pub reason: String,
    pub excerpt: String,
    pub created_at: DateTime<Utc>,
}

/// The active org's policies (members with the Guardrails section).
#[server(endpoint = "guardrails/list_policies")]
pub async fn list_policies() -> Result<Vec<PolicyRow>, AppError> {
    server::list_policies().await
}

/// Creates (no `policy_id`) or updates a policy; the parameters are checked for its kind.
#[server(endpoint = "guardrails/save_policy")]
pub async fn save_policy(
    #[server(default)] policy_id: String,
    name: String,
    kind: String,
    #[server(default)] enabled: String,
    priority: String,
    params: String,
) -> Result<String, AppError> {
    let id =
        server::save_policy(policy_id, name, kind, !enabled.is_empty(), priority, params).await?;
    leptos_axum::redirect("/guardrails?saved=1");
    Ok(id)
}

#[server(endpoint = "guardrails/delete_policy")]
pub async fn delete_policy(policy_id: String) -> Result<(), AppError> {
    server::delete_policy(&policy_id).await?;
    leptos_axum::redirect("/guardrails?saved=deleted");
    Ok(())
}

/// The interventions log, newest first; `action` (`block`, `redact`) filters it.
#[server(endpoint = "guardrails/list_interventions")]
pub async fn list_interventions(
    #[server(default)] action: String,
) -> Result<Vec<InterventionRow>, AppError> {
    server::list_interventions(action).await
}
