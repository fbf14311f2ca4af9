//! Users: the Users page (every user for a superadmin, the active org's members for its
//! admins), creating users, enabling and disabling them, and the permission editor: the role and
//! page permissions of each membership, and the client organization a user is bound to.

mod page;
#[cfg(feature = "ssr")]
pub(crate) mod server;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{EditUserDialog, NewUserDialog, OrgMembersTab, UsersPage};

use crate::AppError;

/// Rows per page of the Users table.
pub const PAGE_SIZE: i64 = 25;

/// The view of the Users table a URL describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserQuery {
    #[serde(default)]
    pub q: String,
    /// `active`, `disabled`, or empty for both.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub page: i64,
}

impl UserQuery {
    pub fn normalized(&self) -> Self {
        Self {
            q: self.q.trim().chars().take(100).collect(),
            status: match self.status.as_str() {
                "active" | "disabled" => self.status.clone(),
                _ => String::new(),
            },
            page: crate::ui::clamp_page(self.page),
        }
    }

    pub fn href(&self) -> String {
        let mut params = Vec::new();
        if !self.q.is_empty() {
            params.push(format!("q={}", crate::orgs::encode(&self.q)));
        }
        if !self.status.is_empty() {
            params.push(format!("status={}", self.status));
        }
        if self.page > 1 {
            params.push(format!("page={}", self.page));
        }
        if params.is_empty() {
            "/users".to_string()
        } else {
            format!("/users?{}", params.join("&"))
        }
    }
}

/// A user's place in one org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub org_id: String,
    pub org_number: i64,
    pub org_name: String,
    pub org_active: bool,
    pub role: String,
    pub member_seq: i32,
    /// Effective sections (the membership's own list, else its role's).
    pub pages: Vec<String>,
    /// Every role of the org, built-in first: the choices of the permission editor.
    pub roles: Vec<String>,
}

impl Membership {
    /// `ORG{n}-U-{seq}`.
    pub fn label(&self) -> String {
        format!("ORG{}-U-{}", self.org_number, self.member_seq)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub superadmin: bool,
    /// The client organization the user is locked to.
    pub bound_org: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub memberships: Vec<Membership>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    pub query: UserQuery,
    pub rows: Vec<UserRow>,
    pub matching: i64,
    /// Every user on the platform (superadmins), or the members of `org_name`.
    pub all_orgs: bool,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    /// Whether the org of `org_id` is enabled (the page offers to disable or enable it).
    pub org_active: bool,
    /// Roles of the active org, for the New User dialog.
    pub roles: Vec<String>,
}

#[server(endpoint = "members/list_users")]
pub async fn list_users(#[server(default)] query: UserQuery) -> Result<UserPage, AppError> {
    server::list(query).await
}

#[server(endpoint = "members/get_user")]
pub async fn get_user(user_id: String) -> Result<UserRow, AppError> {
    server::get(&user_id).await
}

/// The members of one org (its detail view): any org for a superadmin, the active org for its
/// admins.
#[server(endpoint = "members/org_members")]
pub async fn org_members(org_id: String) -> Result<Vec<UserRow>, AppError> {
    server::org_members(&org_id).await
}

/// Creates a user with a membership in `org_id` (an org admin: its active org).
#[server(endpoint = "members/create_user")]
pub async fn create_user(
    org_id: String,
    name: String,
    email: String,
    password: String,
    role: String,
) -> Result<String, AppError> {
    let id = server::create(&org_id, name, email, password, &role).await?;
    leptos_axum::redirect(&format!("/users/{id}?saved=created"));
    Ok(id)
}

/// Name, email, status (enable/disable, effective at once) and the client-org binding
/// (`bound_org_id` empty for none).
#[server(endpoint = "members/update_user")]
pub async fn update_user(
    user_id: String,
    name: String,
    email: String,
    status: String,
    #[server(default)] bound_org_id: String,
) -> Result<(), AppError> {
    server::update(&user_id, name, email, status, bound_org_id).await?;
    leptos_axum::redirect(&format!("/users/{user_id}?saved=1"));
    Ok(())
}

/// The permission editor for one membership: its role and the sections it may open
/// (`pages[<section>]=on` for each; `own_pages` off means "as the role allows"), and, when
/// `bound_org_id` is posted, the user's Client Organization (an org's id, or `none`; empty or
/// absent leaves it): the editor sends the one chosen in the user's form when it changed there,
/// so "Save permissions" saves it too.
#[server(endpoint = "members/set_membership")]
pub async fn set_membership(
    org_id: String,
    user_id: String,
    role: String,
    #[server(default)] own_pages: String,
    #[server(default)] pages: BTreeMap<String, String>,
    #[server(default)] bound_org_id: String,
) -> Result<(), AppError> {
    server::set_membership(
        &org_id,
        &user_id,
        &role,
        !own_pages.is_empty(),
        pages,
        &bound_org_id,
    )
    .await?;
    leptos_axum::redirect(&format!("/users/{user_id}?saved=1"));
    Ok(())
}

/// Ends `user_id`'s membership of `org_id`: their access to it ends with their next request.
/// Not the org's last owner, and nobody above the caller (only an owner removes an owner). A
/// client user locked to the org is disabled too, having nowhere left to go.
#[server(endpoint = "members/remove_member")]
pub async fn remove_member(org_id: String, user_id: String) -> Result<(), AppError> {
    server::remove_member(&org_id, &user_id).await
}
