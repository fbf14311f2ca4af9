//! Organizations: the lifecycle (create, update, disable, enable, delete) as server functions,
//! each audited. The Organizations page (next issue) is built on these.
//!
//! Creating an org writes its row, its built-in roles and its dedicated schema in one
//! transaction, so a failure leaves nothing behind; deleting drops the schema the same way.

mod detail;
mod edit;
#[cfg(feature = "ssr")]
mod lifecycle;
#[cfg(feature = "ssr")]
mod list;
mod page;
#[cfg(feature = "ssr")]
mod settings;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use detail::{
    detail_tab, placeholder, refetch_detail_after, refresh_detail, tab_error, OrgDetail,
    OverviewTab,
};
pub use edit::{ConfirmOrgAction, EditOrgDialog};
#[cfg(feature = "ssr")]
pub use lifecycle::{add_member, create_in, schema_exists};
#[cfg(feature = "ssr")]
pub(crate) use list::escape_like;
pub use page::{NewOrgDialog, OrganizationsPage};

use crate::AppError;

/// Whether `err` refused a new org because another org has its name.
#[cfg(feature = "ssr")]
pub fn name_taken(err: &AppError) -> bool {
    matches!(err, AppError::Validation(fields)
        if fields.get("name").is_some_and(|m| m.iter().any(|m| m == crate::error::ORG_NAME_TAKEN)))
}

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

/// The fields of the New Organization dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrg {
    pub name: String,
    pub domain: String,
    pub product: String,
    pub status: String,
    /// A key of [`crate::products::TEMPLATES`]: the products installed as the org is made.
    /// Empty: none.
    #[serde(default)]
    pub template: String,
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

/// What an Edit tab posts: its own fields only. The others stay as they are, so two people
/// saving different tabs never undo each other's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub description: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
    pub product: Option<String>,
}

impl OrgChanges {
    /// `details` with these changes made.
    pub fn apply(self, mut details: OrgDetails) -> OrgDetails {
        let fields: [(Option<String>, &mut String); 12] = [
            (self.name, &mut details.name),
            (self.domain, &mut details.domain),
            (self.description, &mut details.description),
            (self.contact_email, &mut details.contact_email),
            (self.contact_phone, &mut details.contact_phone),
            (self.address_line1, &mut details.address_line1),
            (self.address_line2, &mut details.address_line2),
            (self.city, &mut details.city),
            (self.state, &mut details.state),
            (self.country, &mut details.country),
            (self.zip, &mut details.zip),
            (self.product, &mut details.product),
        ];
        for (change, field) in fields {
            if let Some(value) = change {
                *field = value;
            }
        }
        details
    }
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
    pub members: i32,
    pub products: i32,
    pub subscription: Option<crate::billing::Subscription>,
    pub roles: Vec<RoleInfo>,
    /// When it was last changed (microseconds): an edit made from an older version is refused
    /// rather than allowed to overwrite what someone saved meanwhile.
    pub version: i64,
}

/// A role of an org, as the Roles tab lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub name: String,
    pub builtin: bool,
    /// `admin` and `member` (shown as "user") cannot be removed.
    pub required: bool,
    pub members: i64,
}

impl RoleInfo {
    /// What people see: `member` is called "user".
    pub fn label(&self) -> &str {
        role_label(&self.name)
    }
}

/// A role's name as people see it: the built-in `member` role is called "user".
pub fn role_label(name: &str) -> &str {
    if name == "member" {
        "user"
    } else {
        name
    }
}

/// The most custom roles an org may have.
pub const MAX_CUSTOM_ROLES: usize = 20;

/// Adds a custom role (at most 20 per org).
#[server(endpoint = "orgs/add_role")]
pub async fn add_role(org_id: String, role_name: String) -> Result<(), AppError> {
    settings::add_role(&org_id, &role_name).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/edit?tab=roles&saved=1"));
    Ok(())
}

/// Removes a custom role nobody holds; `admin` and `user` always stay.
#[server(endpoint = "orgs/remove_role")]
pub async fn remove_role(org_id: String, role_name: String) -> Result<(), AppError> {
    settings::remove_role(&org_id, &role_name).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/edit?tab=roles&saved=1"));
    Ok(())
}

/// Rows per page of the Organizations table.
pub const PAGE_SIZE: i64 = 25;

/// The columns the Organizations table sorts by: (URL key, header).
pub const SORT_COLUMNS: [(&str, &str); 9] = [
    ("id", "ID"),
    ("title", "Title"),
    ("product", "Product"),
    ("status", "Status"),
    ("subscription", "Subscription"),
    ("template", "Template"),
    ("products", "Installed products"),
    ("users", "User count"),
    ("created", "Created date"),
];

/// The view of the Organizations table a URL describes; every field is optional there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OrgQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub page: i64,
}

impl OrgQuery {
    /// The same view with unknown values replaced by the defaults (newest first, page 1).
    pub fn normalized(&self) -> Self {
        let sort = if SORT_COLUMNS.iter().any(|(key, _)| *key == self.sort) {
            self.sort.clone()
        } else {
            "created".to_string()
        };
        let dir = match self.dir.as_str() {
            "asc" | "desc" => self.dir.clone(),
            _ if sort == "created" => "desc".to_string(),
            _ => "asc".to_string(),
        };
        let product = if PRODUCTS.iter().any(|(value, _)| *value == self.product) {
            self.product.clone()
        } else {
            String::new()
        };
        Self {
            q: self.q.trim().chars().take(100).collect(),
            product,
            sort,
            dir,
            page: crate::ui::clamp_page(self.page),
        }
    }

    /// The URL of this view, leaving defaults out.
    pub fn href(&self) -> String {
        let mut params = Vec::new();
        if !self.q.is_empty() {
            params.push(format!("q={}", encode(&self.q)));
        }
        if !self.product.is_empty() {
            params.push(format!("product={}", self.product));
        }
        if !(self.sort == "created" && self.dir == "desc") {
            params.push(format!("sort={}&dir={}", self.sort, self.dir));
        }
        if self.page > 1 {
            params.push(format!("page={}", self.page));
        }
        if params.is_empty() {
            "/organizations".to_string()
        } else {
            format!("/organizations?{}", params.join("&"))
        }
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One row of the Organizations table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRow {
    pub id: String,
    pub number: i64,
    pub name: String,
    pub slug: String,
    pub domain: String,
    pub product: String,
    pub status: String,
    pub template: String,
    pub users: i32,
    /// `None`: no subscription record.
    pub subscription: Option<String>,
    pub plan: Option<String>,
    pub installed_products: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The summary cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OrgCounts {
    pub total: i64,
    pub active: i64,
    pub trialing: i64,
    pub past_due: i64,
    pub cancelled: i64,
    pub no_subscription: i64,
}

/// A page of the Organizations table, with the cards and the view it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPage {
    pub query: OrgQuery,
    pub rows: Vec<OrgRow>,
    /// Rows matching the filters, across all pages.
    pub matching: i64,
    pub counts: OrgCounts,
    /// Whether the viewer may create orgs (superadmins).
    pub can_create: bool,
}

/// One page of the organizations the caller may manage: every org for a superadmin, the orgs a
/// user owns or administers otherwise.
#[server(endpoint = "orgs/list_orgs")]
pub async fn list_orgs(#[server(default)] query: OrgQuery) -> Result<OrgPage, AppError> {
    list::page(query).await
}

/// Creates an organization (superadmins). Returns its id.
#[server(endpoint = "orgs/create_org")]
pub async fn create_org(org: NewOrg) -> Result<String, AppError> {
    let name = org.name.trim().to_string();
    let id = lifecycle::create(org).await?;
    leptos_axum::redirect(&format!("/organizations?created={}", encode(&name)));
    Ok(id)
}

/// The org the request acts in (from the host, the org header or the token).
#[server(endpoint = "orgs/current_org")]
pub async fn current_org() -> Result<Organization, AppError> {
    lifecycle::get(None).await
}

/// Who an org is, for the title of its detail view: what any member may see of it (their org
/// switcher names it too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTitle {
    pub id: String,
    pub number: i64,
    pub name: String,
    pub slug: String,
    pub active: bool,
}

/// The detail view's frame: the org's title line. Each tab loads its own data through its own
/// endpoint, under that endpoint's need.
#[server(endpoint = "orgs/org_header")]
pub async fn org_header(org_id: String) -> Result<OrgTitle, AppError> {
    lifecycle::header(&org_id).await
}

/// The Overview tab: the org, and its allowances under its plan (its health).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgOverviewData {
    pub org: Organization,
    pub allowances: Vec<crate::billing::Allowance>,
    pub plan: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Who created it, as the caller may see them: a name, or what stands in for one.
    pub created_by: String,
    /// Members who signed in within the last 30 days (its "active users").
    pub recently_signed_in: i64,
    pub last_sign_in: Option<chrono::DateTime<chrono::Utc>>,
    /// The org's own resource in each data store, and how it is; empty where the server has
    /// no stores.
    pub resources: Vec<Resource>,
}

/// One of an org's resources in the data stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `Redis`, `NATS JetStream`, `ClickHouse`.
    pub store: String,
    /// What it is: the key prefix, the stream, the database.
    pub name: String,
    /// `ready`, `provisioning`, `failed`, `missing` or `unreachable`.
    pub status: String,
    /// More about it, in a sentence (the failure, the stream's use); may be empty.
    pub detail: String,
}

#[server(endpoint = "orgs/org_overview")]
pub async fn org_overview(org_id: String) -> Result<OrgOverviewData, AppError> {
    lifecycle::overview(&org_id).await
}

#[server(endpoint = "orgs/get_org")]
pub async fn get_org(org_id: String) -> Result<Organization, AppError> {
    lifecycle::get(Some(&org_id)).await
}

/// Updates the details a tab posts (the rest stay); the slug is permanent and `slug`, if
/// given, must be the current one. `version` is the org's as the form saw it: if it changed
/// since, the save is refused (409) instead of overwriting.
#[server(endpoint = "orgs/update_org")]
pub async fn update_org(
    org_id: String,
    #[server(default)] details: OrgChanges,
    #[server(default)] slug: Option<String>,
    #[server(default)] version: String,
) -> Result<(), AppError> {
    lifecycle::update(&org_id, details, slug, &version).await
}

/// Locks every member out at once; all data stays.
#[server(endpoint = "orgs/disable_org")]
pub async fn disable_org(org_id: String) -> Result<(), AppError> {
    let name = lifecycle::set_status(&org_id, false).await?;
    leptos_axum::redirect(&format!("/organizations?disabled={}", encode(&name)));
    Ok(())
}

/// Restores access (superadmins: the org's own admins are locked out while it is disabled).
#[server(endpoint = "orgs/enable_org")]
pub async fn enable_org(org_id: String) -> Result<(), AppError> {
    let name = lifecycle::set_status(&org_id, true).await?;
    leptos_axum::redirect(&format!("/organizations?enabled={}", encode(&name)));
    Ok(())
}

/// Deletes an org with nothing assigned to it, and drops its schema (superadmins).
#[server(endpoint = "orgs/delete_org")]
pub async fn delete_org(org_id: String) -> Result<(), AppError> {
    let name = lifecycle::delete(&org_id).await?;
    leptos_axum::redirect(&format!("/organizations?deleted={}", encode(&name)));
    Ok(())
}
