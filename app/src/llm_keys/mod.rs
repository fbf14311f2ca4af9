//! LLM API keys per provider, at org level and at user level, encrypted at rest and shown only
//! by their last characters. An agent asks which key to use (for the user it acts for) and is
//! told which one and why: the user's (if the org allows user keys), else the org's, else the
//! server's environment (`TENANTRY_LLM_KEY_<PROVIDER>`).

mod page;
#[cfg(feature = "ssr")]
pub mod server;

pub use page::OwnLlmKeysPage;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// Providers keys can be kept for: (stored value, label).
pub const PROVIDERS: [(&str, &str); 5] = [
    ("openai", "OpenAI"),
    ("anthropic", "Anthropic"),
    ("google", "Google"),
    ("mistral", "Mistral"),
    ("azure_openai", "Azure OpenAI"),
];

pub fn provider_label(provider: &str) -> &str {
    PROVIDERS
        .iter()
        .find(|(p, _)| *p == provider)
        .map(|(_, l)| *l)
        .unwrap_or(provider)
}

/// The environment variable that holds the server's fallback key for a provider.
pub fn env_var(provider: &str) -> String {
    format!("TENANTRY_LLM_KEY_{}", provider.to_uppercase())
}

/// The org's keys as its admins see them (masked), and its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmKeys {
    pub allow_user_keys: bool,
    pub keys: Vec<LlmKeyRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmKeyRow {
    pub id: String,
    pub provider: String,
    /// `None`: the org's key; else the member it belongs to.
    pub user: Option<String>,
    pub masked: String,
    pub updated_at: DateTime<Utc>,
}

/// A member's own keys in the org they are acting in (the "Your LLM keys" page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnKeyList {
    pub org_id: String,
    pub org_name: String,
    /// Off: agents skip members' keys in this org and use the org's or the server's.
    pub allow_user_keys: bool,
    pub keys: Vec<LlmKeyRow>,
}

/// Where a resolved key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    User,
    Organization,
    Environment,
}

/// Picks the key to use: the user's if there is one and the org allows user keys, else the
/// org's, else the environment's; and says why in words. `None` when there is none.
pub fn resolve<K: Clone>(
    provider: &str,
    user_key: Option<&K>,
    allow_user_keys: bool,
    org_key: Option<&K>,
    env_key: Option<&K>,
) -> (Option<(Source, K)>, String) {
    let label = provider_label(provider);
    let user_note = match (user_key.is_some(), allow_user_keys) {
        (true, false) => {
            "the user's own key is not used because the organization does not allow user keys; "
        }
        _ => "",
    };
    if let (Some(key), true) = (user_key, allow_user_keys) {
        return (
            Some((Source::User, key.clone())),
            format!("The user's own {label} key: the organization allows user keys."),
        );
    }
    let who = if user_key.is_none() {
        "the user has no key of their own; "
    } else {
        ""
    };
    if let Some(key) = org_key {
        return (
            Some((Source::Organization, key.clone())),
            format!("The organization's {label} key: {who}{user_note}the organization has one."),
        );
    }
    if let Some(key) = env_key {
        return (
            Some((Source::Environment, key.clone())),
            format!(
                "The server's {label} key ({}): {who}{user_note}the organization has none.",
                env_var(provider)
            ),
        );
    }
    (
        None,
        format!(
            "No {label} key: {who}{user_note}the organization has none, and {} is not set.",
            env_var(provider)
        ),
    )
}

/// Saves the org's key for a provider (the org's agent admins).
#[server(endpoint = "llm_keys/save_llm_key")]
pub async fn save_llm_key(
    org_id: String,
    provider: String,
    key: String,
) -> Result<String, AppError> {
    let gate = crate::tenancy::gate::Gate::open(<SaveLlmKey as leptos::server_fn::ServerFn>::PATH)?;
    let masked = server::save(gate, &org_id, &provider, &key, false).await?;
    leptos_axum::redirect(&back(false, &org_id, "saved"));
    Ok(masked)
}

/// Deletes any of the org's keys, members' included (the org's agent admins).
#[server(endpoint = "llm_keys/delete_llm_key")]
pub async fn delete_llm_key(org_id: String, llm_key_id: String) -> Result<(), AppError> {
    let gate =
        crate::tenancy::gate::Gate::open(<DeleteLlmKey as leptos::server_fn::ServerFn>::PATH)?;
    server::delete(gate, &org_id, &llm_key_id, false).await?;
    leptos_axum::redirect(&back(false, &org_id, "deleted"));
    Ok(())
}

/// Saves the caller's own key for a provider, in the org they act in (any member).
#[server(endpoint = "llm_keys/save_own_llm_key")]
pub async fn save_own_llm_key(
    org_id: String,
    provider: String,
    key: String,
) -> Result<String, AppError> {
    let gate =
        crate::tenancy::gate::Gate::open(<SaveOwnLlmKey as leptos::server_fn::ServerFn>::PATH)?;
    let masked = server::save(gate, &org_id, &provider, &key, true).await?;
    leptos_axum::redirect(&back(true, &org_id, "saved"));
    Ok(masked)
}

/// Deletes one of the caller's own keys.
#[server(endpoint = "llm_keys/delete_own_llm_key")]
pub async fn delete_own_llm_key(org_id: String, llm_key_id: String) -> Result<(), AppError> {
    let gate =
        crate::tenancy::gate::Gate::open(<DeleteOwnLlmKey as leptos::server_fn::ServerFn>::PATH)?;
    server::delete(gate, &org_id, &llm_key_id, true).await?;
    leptos_axum::redirect(&back(true, &org_id, "deleted"));
    Ok(())
}

/// The caller's own keys in the org they are acting in.
#[server(endpoint = "llm_keys/own_llm_keys")]
pub async fn own_llm_keys() -> Result<OwnKeyList, AppError> {
    server::own().await
}

/// Where a save or delete returns to: the page it came from (`from` = "own": "Your LLM keys";
/// anything else: the org's Credentials tab). Never an address the request chose.
#[cfg(feature = "ssr")]
fn back(own: bool, org_id: &str, done: &str) -> String {
    match own {
        true => format!("/llm-keys?done={done}"),
        _ if done == "saved" => format!("/organizations/{org_id}/credentials?saved=llm"),
        _ => format!("/organizations/{org_id}/credentials?saved=llm-deleted"),
    }
}

/// Switches the org's "allow user keys" policy (admins).
#[server(endpoint = "llm_keys/set_allow_user_keys")]
pub async fn set_allow_user_keys(
    org_id: String,
    #[server(default)] allow: Option<String>,
) -> Result<(), AppError> {
    server::set_allow(&org_id, allow.is_some()).await?;
    leptos_axum::redirect(&format!(
        "/organizations/{org_id}/credentials?saved=llm-policy"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_user_then_org_then_environment() {
        let (u, o, e) = ("user-key", "org-key", "env-key");
        // user key, allow user keys, org key, environment key → source, a word of the reason.
        type Case<'a> = (
            Option<&'a &'a str>,
            bool,
            Option<&'a &'a str>,
            Option<&'a &'a str>,
            Option<Source>,
            &'a str,
        );
        let cases: [Case; 8] = [
            (
                Some(&u),
                true,
                Some(&o),
                Some(&e),
                Some(Source::User),
                "allows user keys",
            ),
            (
                Some(&u),
                false,
                Some(&o),
                Some(&e),
                Some(Source::Organization),
                "does not allow user keys",
            ),
            (
                None,
                true,
                Some(&o),
                Some(&e),
                Some(Source::Organization),
                "has no key of their own",
            ),
            (
                None,
                true,
                None,
                Some(&e),
                Some(Source::Environment),
                "TENANTRY_LLM_KEY_OPENAI",
            ),
            (
                Some(&u),
                false,
                None,
                Some(&e),
                Some(Source::Environment),
                "does not allow user keys",
            ),
            (
                Some(&u),
                true,
                None,
                None,
                Some(Source::User),
                "allows user keys",
            ),
            (None, true, None, None, None, "is not set"),
            (
                Some(&u),
                false,
                None,
                None,
                None,
                "does not allow user keys",
            ),
        ];
        for (user, allow, org, env, want, why) in cases {
            let (got, reason) = resolve("openai", user, allow, org, env);
            assert_eq!(
                got.map(|(s, _)| s),
                want,
                "{user:?} {allow} {org:?} {env:?}"
            );
            assert!(reason.contains(why), "{reason}");
        }
        let (got, _) = resolve("openai", Some(&u), false, Some(&o), None);
        assert_eq!(got, Some((Source::Organization, o)));
    }
}
