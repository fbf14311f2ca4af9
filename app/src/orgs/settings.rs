//! The Roles tab of the edit dialog (server side).

use serde_json::json;

use super::MAX_CUSTOM_ROLES;
use crate::{tenancy::gate::Gate, AppError};
use leptos::server_fn::ServerFn;

pub async fn add_role(org_id: &str, role_name: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::AddRole::PATH)?.tenant_in(org_id).await?;
    let name = role_name.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(AppError::field(
            "role_name",
            "Start with a letter; use lowercase letters, digits, - and _ (at most 40).",
        ));
    }
    if name == "user" {
        return Err(AppError::field(
            "role_name",
            "The user role already exists.",
        ));
    }
    let org = tenant.org_id;
    let exists = sqlx::query_scalar!(
        r#"select exists (select from org_role where org_id = $1 and role_name = $2) as "e!""#,
        org,
        name
    )
    .fetch_one(tenant.conn())
    .await?;
    if exists {
        return Err(AppError::field("role_name", "This role already exists."));
    }
    let result = sqlx::query!(
        "insert into org_role (org_id, role_name, pages) values ($1, $2, '{agents,knowledge}')",
        org,
        name
    )
    .execute(tenant.conn())
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("org_role_limit") => {
            return Err(AppError::field(
                "role_name",
                format!("An organization may have at most {MAX_CUSTOM_ROLES} custom roles; remove one first."),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tenant.audit("role.add", &name, json!({})).await?;
    tenant.commit().await
}

pub async fn remove_role(org_id: &str, role_name: &str) -> Result<(), AppError> {
    let mut tenant = Gate::open(super::RemoveRole::PATH)?
        .tenant_in(org_id)
        .await?;
    let org = tenant.org_id;
    let name = role_name.trim();
    if matches!(name, "admin" | "member" | "user") {
        return Err(AppError::Conflict(format!(
            "The {} role is always present and cannot be removed.",
            if name == "member" { "user" } else { name }
        )));
    }
    let removed = sqlx::query!(
        "delete from org_role where org_id = $1 and role_name = $2 and not builtin",
        org,
        name
    )
    .execute(tenant.conn())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => AppError::Conflict(
            format!("Members still hold the {name} role; give them another role first."),
        ),
        _ => e.into(),
    })?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound(format!("The custom role {name}")));
    }
    tenant.audit("role.remove", name, json!({})).await?;
    tenant.commit().await
}
