//! Agents: a platform registry (name, email, model, status), each agent assigned to at most one
//! org at a time; API keys that let an agent call the agent-facing API (`api`) in the org it
//! serves; and per-agent memory that follows the agent's assignment.
//!
//! An agent of a disabled org reads "stopped", and the agent gate refuses it.

#[cfg(feature = "ssr")]
pub mod api;
mod page;
#[cfg(feature = "ssr")]
mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{AgentKeysDialog, AgentsPage, OrgAgentsTab};
#[cfg(feature = "ssr")]
pub use server::assigned_count;

use crate::AppError;

/// The models an agent may run on (the model pricing of a later capability takes over).
pub const MODELS: [&str; 6] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-sonnet",
    "claude-3-5-haiku",
    "gemini-1-5-pro",
    "llama-3-1-70b",
];

/// Rows per page of the agent registry.
pub const PAGE_SIZE: i64 = 25;

/// An agent as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub model: String,
    /// `active`, `paused`, or `stopped` (its org is disabled).
    pub status: String,
    pub org_id: Option<String>,
    /// The org it serves (the registry, for superadmins).
    pub org_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Keys not revoked (the registry).
    pub keys: i64,
}

/// The Agents page: every agent for a superadmin, the active org's agents otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPage {
    pub q: String,
    pub page: i64,
    pub rows: Vec<AgentRow>,
    pub matching: i64,
    pub registry: bool,
    /// The org listed (an org's own list), or the org a superadmin acts in (the registry).
    pub org_name: Option<String>,
    /// Which of the registry a superadmin sees: `org` (the agents of the org they act in, the
    /// default under the org switcher), `unassigned`, or `all`. Empty for an org's own list.
    #[serde(default)]
    pub scope: String,
}

/// An agent not assigned to any org: a choice of the Agents tab's dropdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentChoice {
    pub id: String,
    pub name: String,
    pub email: String,
    pub model: String,
}

/// The org detail view's Agents tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgAgentList {
    pub assigned: Vec<AgentRow>,
    /// Offered only to those who may assign (owners, admins, superadmins).
    pub unassigned: Vec<AgentChoice>,
    pub can_assign: bool,
}

/// A freshly issued API key: the only time the whole key is ever shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub agent_id: String,
    pub key_id: String,
    pub key: String,
}

/// A key as listed later: its prefix only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentKey {
    pub id: String,
    pub prefix: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The Agents page: an org's agents, or for a superadmin the registry, by default narrowed to
/// the org they act in (`scope`: `org`, `unassigned` or `all`).
#[server(endpoint = "agents/list_agents")]
pub async fn list_agents(
    #[server(default)] q: String,
    #[server(default)] page: i64,
    #[server(default)] scope: String,
) -> Result<AgentPage, AppError> {
    server::list(q, page, &scope).await
}

/// Registers an agent and issues its first API key (superadmins).
#[server(endpoint = "agents/create_agent")]
pub async fn create_agent(
    name: String,
    email: String,
    model: String,
) -> Result<IssuedKey, AppError> {
    server::create(name, email, model).await
}

/// Issues another key for an agent (superadmins); the old ones stay until revoked.
#[server(endpoint = "agents/issue_key")]
pub async fn issue_key(
    agent_id: String,
    #[server(default)] label: String,
) -> Result<IssuedKey, AppError> {
    server::issue_key(&agent_id, label).await
}

#[server(endpoint = "agents/agent_keys")]
pub async fn agent_keys(agent_id: String) -> Result<Vec<AgentKey>, AppError> {
    server::keys(&agent_id).await
}

/// Revokes a key at once: the next call with it is refused.
#[server(endpoint = "agents/revoke_key")]
pub async fn revoke_key(key_id: String) -> Result<(), AppError> {
    server::revoke_key(&key_id).await
}

#[server(endpoint = "agents/org_agents")]
pub async fn org_agents(org_id: String) -> Result<OrgAgentList, AppError> {
    server::org_agents(&org_id).await
}

/// Assigns an unassigned agent to the org; takes effect immediately.
#[server(endpoint = "agents/assign_agent")]
pub async fn assign_agent(org_id: String, agent_id: String) -> Result<(), AppError> {
    server::assign(&org_id, &agent_id).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/agents?saved=assigned"));
    Ok(())
}

#[server(endpoint = "agents/unassign_agent")]
pub async fn unassign_agent(org_id: String, agent_id: String) -> Result<(), AppError> {
    server::unassign(&org_id, &agent_id).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/agents?saved=unassigned"));
    Ok(())
}

/// What the agent list says about an agent's state.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "Active",
        "paused" => "Paused",
        _ => "Stopped",
    }
}
