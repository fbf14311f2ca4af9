//! Products: the catalog (`catalog/`, checked at start), and installing and uninstalling a
//! product into an org as resumable runs of artifact steps with live progress (`engine.rs`).
//! Each product's tables live in the org's dedicated schema, owned by the org's own database
//! role (migration 16).

#[cfg(feature = "ssr")]
pub mod artifacts;
#[cfg(feature = "ssr")]
pub mod catalog;
#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod events;
mod page;
#[cfg(feature = "ssr")]
pub(crate) mod server;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{OrgProductsTab, ProductsPage};

use crate::AppError;

/// A product as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub product: String,
    pub name: String,
    pub description: String,
    pub version: i32,
    /// (kind, name) of each artifact, in install order.
    pub artifacts: Vec<(String, String)>,
}

/// One step of a run, as the progress log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub seq: i32,
    pub kind: String,
    pub name: String,
    /// `create`, `alter` (an upgrade's change) or `remove`.
    pub op: String,
    /// `pending`, `done`, `skipped` or `failed` (the first pending step of a live run is the
    /// one running).
    pub status: String,
    pub error: String,
    pub duration_ms: Option<i32>,
}

/// A run and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    pub run_id: String,
    pub product: String,
    pub version: i32,
    /// `install`, `uninstall`, `upgrade` or `rollback`.
    pub action: String,
    /// `pending`, `running`, `succeeded`, `failed`, `rolled_back` or `stopped` (a failed
    /// upgrade ended where it was).
    pub status: String,
    pub error: String,
    pub total: i32,
    pub done: i32,
    /// Whether a worker holds it now (a running run without one is being taken over).
    pub live: bool,
    /// Bumped by every change of its state: the id of its progress events.
    pub revision: i64,
    pub steps: Vec<StepView>,
}

impl RunView {
    /// Whether the run may still change (the page keeps watching it).
    pub fn active(&self) -> bool {
        matches!(self.status.as_str(), "pending" | "running")
    }
}

/// One product in one org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgProductRow {
    pub product: String,
    pub name: String,
    pub description: String,
    /// The catalog's version.
    pub version: i32,
    /// The version installed, if it is.
    pub installed: Option<i32>,
    /// The latest run (the active one, or the last that ended).
    pub run: Option<RunView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductsOfOrg {
    pub rows: Vec<OrgProductRow>,
    /// Whether the caller may install and uninstall (Products at admin level).
    pub can_manage: bool,
}

/// What an uninstall removes: each artifact, with the rows of each table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UninstallPlan {
    pub product: String,
    pub name: String,
    /// (kind, name, rows in it for a table)
    pub artifacts: Vec<(String, String, Option<i64>)>,
}

/// The templates an organization can be made from: (key, label, the catalog products installed
/// as it is made, one run each). The Organizations table's Template column shows the label.
/// (Consumer and Custom, which the product filter also names, are templates, not products.)
pub const TEMPLATES: [(&str, &str, &[&str]); 5] = [
    ("retail", "Retail", &["shop_assist", "crm"]),
    ("clinic", "Clinic", &["aafya", "done"]),
    ("advisory", "Advisory", &["fahim", "crm"]),
    ("consumer", "Consumer", &["eloquent"]),
    ("custom", "Custom", &[]),
];

/// Where a run's progress streams from (Server-Sent Events, `events.rs`).
pub fn progress_address(org_id: &str, run_id: &str) -> String {
    format!("/api/events/product-runs/{org_id}/{run_id}")
}

/// The catalog (the Products page).
#[server(endpoint = "products/catalog")]
pub async fn catalog() -> Result<Vec<CatalogEntry>, AppError> {
    server::catalog().await
}

/// Each catalog product in the org: installed or not, and its latest run.
#[server(endpoint = "products/org_products")]
pub async fn org_products(org_id: String) -> Result<ProductsOfOrg, AppError> {
    server::org_products(&org_id).await
}

/// Plans the install of `product` into the org and starts it; returns the run's id.
#[server(endpoint = "products/install")]
pub async fn install(org_id: String, product: String) -> Result<String, AppError> {
    let run = server::install(&org_id, &product).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/products?run={run}"));
    Ok(run)
}

/// What uninstalling `product` would remove, with each table's rows.
#[server(endpoint = "products/uninstall_preview")]
pub async fn uninstall_preview(org_id: String, product: String) -> Result<UninstallPlan, AppError> {
    server::uninstall_preview(&org_id, &product).await
}

/// Plans the uninstall of `product` (exactly what its runs made, in reverse) and starts it.
#[server(endpoint = "products/uninstall")]
pub async fn uninstall(org_id: String, product: String) -> Result<String, AppError> {
    let run = server::uninstall(&org_id, &product).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/products?run={run}"));
    Ok(run)
}

/// Resumes a failed run at its failed step.
#[server(endpoint = "products/retry_run")]
pub async fn retry_run(org_id: String, run_id: String) -> Result<String, AppError> {
    let run = server::retry(&org_id, &run_id).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/products?run={run}"));
    Ok(run)
}

/// Ends a failed upgrade where it is: what its steps already changed stays, the org keeps its
/// version, and the product can be uninstalled or upgraded to a later version.
#[server(endpoint = "products/stop_upgrade")]
pub async fn stop_upgrade(org_id: String, run_id: String) -> Result<String, AppError> {
    let run = server::stop_upgrade(&org_id, &run_id).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/products?run={run}"));
    Ok(run)
}

/// Removes what a failed install made, in reverse, as a run of its own.
#[server(endpoint = "products/roll_back_run")]
pub async fn roll_back_run(org_id: String, run_id: String) -> Result<String, AppError> {
    let run = server::roll_back(&org_id, &run_id).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/products?run={run}"));
    Ok(run)
}
