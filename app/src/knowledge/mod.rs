//! Knowledge: entries per org (title, body, tags, source, visibility), full-text search
//! (PostgreSQL `tsvector`, ranked) over the current org plus the platform owner's shared
//! entries, which every org reads and only the owner org edits.

mod page;
#[cfg(feature = "ssr")]
pub mod server;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{EntryEditor, KnowledgePage};

use crate::AppError;

/// Who may see an entry: (stored value, label). Agents search all but `private`.
pub const VISIBILITIES: [(&str, &str); 4] = [
    ("organization", "Organization"),
    ("team", "Team"),
    ("public", "Public"),
    ("private", "Private (only its author)"),
];

/// Entries per page.
pub const PAGE_SIZE: i64 = 25;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub source: String,
    pub visibility: String,
    pub shared: bool,
    /// Shared by the platform owner's org and read here: not editable from this org.
    pub read_only: bool,
    pub updated_at: DateTime<Utc>,
    /// With a search: the fragment that matched, `[…]` around the hits.
    pub snippet: Option<String>,
    pub rank: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryPage {
    pub q: String,
    pub page: i64,
    pub rows: Vec<Entry>,
    pub matching: i64,
}

#[server(endpoint = "knowledge/list_entries")]
pub async fn list_entries(
    #[server(default)] q: String,
    #[server(default)] page: i64,
) -> Result<EntryPage, AppError> {
    server::list(q, page).await
}

#[server(endpoint = "knowledge/get_entry")]
pub async fn get_entry(entry_id: String) -> Result<Entry, AppError> {
    server::get(&entry_id).await
}

/// Creates (no `entry_id`) or updates an entry of the current org.
#[server(endpoint = "knowledge/save_entry")]
#[allow(clippy::too_many_arguments)]
pub async fn save_entry(
    #[server(default)] entry_id: String,
    title: String,
    #[server(default)] body: String,
    #[server(default)] tags: String,
    #[server(default)] source: String,
    visibility: String,
    #[server(default)] shared: String,
) -> Result<String, AppError> {
    let id = server::save(
        entry_id,
        title,
        body,
        tags,
        source,
        visibility,
        !shared.is_empty(),
    )
    .await?;
    leptos_axum::redirect("/knowledge?saved=1");
    Ok(id)
}

#[server(endpoint = "knowledge/delete_entry")]
pub async fn delete_entry(entry_id: String) -> Result<(), AppError> {
    server::delete(&entry_id).await?;
    leptos_axum::redirect("/knowledge?saved=deleted");
    Ok(())
}

/// Makes an org the platform owner's (superadmins): its shared entries reach every org.
#[server(endpoint = "knowledge/mark_platform_owner")]
pub async fn mark_platform_owner(org_id: String) -> Result<(), AppError> {
    server::mark_platform_owner(&org_id).await
}
