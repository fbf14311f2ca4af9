//! Organizations: the lifecycle (create, update, disable, enable, delete) as server functions,
//! each audited. The Organizations page (next issue) is built on these.
//!
//! Creating an org writes its row, its built-in roles and its dedicated schema in one
//! transaction, so a failure leaves nothing behind; deleting drops the schema the same way.

#[cfg(feature = "ssr")]
mod lifecycle;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub use lifecycle::{create_in, schema_exists};

use crate::AppError;

/// The products an organization can be created for: (stored value, label).
pub const PRODUCTS: [(&str, &str); 8] = [
    ("eloquent", "Eloquent"),
    ("aafya", "Aafya"),
    ("done", "Done"),
    ("fahim", "Fahim"),
    ("shop_assist", "Shop Assist"),
    ("crm", "CRM"),
    ("consumer", "Consumer"),
    ("custom", "Custom"),
];

/// The Admin App sections a role or member may open.
pub const PAGES: [&str; 9] = [
    "organizations",
    "users",
    "products",
    "agents",
    "knowledge",
    "guardrails",
    "billing",
    "audit",
    "settings",
];

/// The fields of the New Organization dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrg {
    pub name: String,
    pub domain: String,
    pub product: String,
    pub status: String,
}

/// An organization's editable details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OrgDetails {
    pub name: String,
    pub domain: String,
    pub description: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub state: String,
    pub country: String,
    pub zip: String,
    pub product: String,
}

/// An organization as its admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub number: i64,
    pub slug: String,
    pub status: String,
    pub parent_id: Option<String>,
    pub details: OrgDetails,
    pub schema: String,
}

/// Creates an organization (superadmins). Returns its id.
#[server(endpoint = "orgs/create_org")]
pub async fn create_org(org: NewOrg) -> Result<String, AppError> {
    lifecycle::create(org).await
}

/// The org the request acts in (from the host, the org header or the token).
#[server(endpoint = "orgs/current_org")]
pub async fn current_org() -> Result<Organization, AppError> {
    lifecycle::get(None).await
}

#[server(endpoint = "orgs/get_org")]
pub async fn get_org(org_id: String) -> Result<Organization, AppError> {
    lifecycle::get(Some(&org_id)).await
}

/// Updates the details; the slug is permanent and `slug`, if given, must be the current one.
#[server(endpoint = "orgs/update_org")]
pub async fn update_org(
    org_id: String,
    details: OrgDetails,
    #[server(default)] slug: Option<String>,
) -> Result<(), AppError> {
    lifecycle::update(&org_id, details, slug).await
}

/// Locks every member out at once; all data stays.
#[server(endpoint = "orgs/disable_org")]
pub async fn disable_org(org_id: String) -> Result<(), AppError> {
    lifecycle::set_status(&org_id, false).await
}

/// Restores access (superadmins: the org's own admins are locked out while it is disabled).
#[server(endpoint = "orgs/enable_org")]
pub async fn enable_org(org_id: String) -> Result<(), AppError> {
    lifecycle::set_status(&org_id, true).await
}

/// Deletes an org with nothing assigned to it, and drops its schema (superadmins).
#[server(endpoint = "orgs/delete_org")]
pub async fn delete_org(org_id: String) -> Result<(), AppError> {
    lifecycle::delete(&org_id).await
}
