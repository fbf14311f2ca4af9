//! Credentials for skills and integrations: scoped to an org, or to one of its agents; stored
//! encrypted (AES-256-GCM, key from configuration, bound to the org and name); shown to people
//! only as their last four characters, handed in full only to the agents they are for.

#[cfg(feature = "ssr")]
pub mod cipher;
mod page;
#[cfg(feature = "ssr")]
pub mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::CredentialsTab;

use crate::AppError;

/// The org detail view's Credentials tab: the credentials, and the org's agents to scope one to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialTab {
    pub rows: Vec<CredentialRow>,
    /// (id, name) of the agents serving the org.
    pub agents: Vec<(String, String)>,
    pub llm: crate::llm_keys::LlmKeys,
}

/// What a credential is: (stored value, label).
pub const KINDS: [(&str, &str); 4] = [
    ("api_key", "API key"),
    ("token", "Access token"),
    ("password", "Password"),
    ("webhook_secret", "Webhook secret"),
];

/// Longest secret, in characters.
pub const MAX_SECRET_CHARS: usize = 4096;

/// A credential as people see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// `None`: every agent of the org.
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// `••••` and the last four characters.
    pub masked: String,
    pub updated_at: DateTime<Utc>,
}

#[server(endpoint = "credentials/list_credentials")]
pub async fn list_credentials(org_id: String) -> Result<CredentialTab, AppError> {
    server::list(&org_id).await
}

/// Saves a credential; one with the same name and scope is replaced. Answers its masked form.
#[server(endpoint = "credentials/save_credential")]
pub async fn save_credential(
    org_id: String,
    name: String,
    kind: String,
    #[server(default)] agent_id: String,
    secret: String,
) -> Result<String, AppError> {
    let masked = server::save(&org_id, name, kind, agent_id, secret).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/credentials?saved=1"));
    Ok(masked)
}

#[server(endpoint = "credentials/delete_credential")]
pub async fn delete_credential(org_id: String, credential_id: String) -> Result<(), AppError> {
    server::delete(&org_id, &credential_id).await?;
    leptos_axum::redirect(&format!(
        "/organizations/{org_id}/credentials?saved=deleted"
    ));
    Ok(())
}
