//! The Subscription and Roles tabs of the edit dialog (server side).

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{RoleInfo, Subscription, MAX_CUSTOM_ROLES, SUBSCRIPTION_STATUSES};
use crate::{tenancy::gate::Gate, AppError};
use leptos::server_fn::ServerFn;

pub async fn subscription(
    conn: &mut PgConnection,
    org_id: Uuid,
) -> Result<Option<Subscription>, AppError> {
    Ok(sqlx::query_as!(
        Subscription,
        "select plan_name, seats, platform, status, stripe_customer_id, stripe_subscription_id,
                trial_end, current_period_end, cancelled_at, cancel_reason, grace_period_end
           from subscription where org_id = $1",
        org_id
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn roles(conn: &mut PgConnection, org_id: Uuid) -> Result<Vec<RoleInfo>, AppError> {
    Ok(sqlx::query!(
        r#"select r.role_name, r.builtin,
                  (select count(*) from membership m
                    where m.org_id = r.org_id and m.role_name = r.role_name) as "members!"
             from org_role r where r.org_id = $1
            order by not r.builtin, r.created_at, r.role_name"#,
        org_id
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| RoleInfo {
        required: matches!(r.role_name.as_str(), "admin" | "member"),
        name: r.role_name,
        builtin: r.builtin,
        members: r.members,
    })
    .collect())
}

pub async fn update_subscription(
    org_id: &str,
    plan_name: String,
    seats: String,
    platform: String,
    status: String,
    cancel_reason: String,
) -> Result<(), AppError> {
    // Entitlements are the platform's: superadmins (and Stripe) set them.
    let platform_handle = Gate::open(super::UpdateSubscription::PATH)?
        .platform()
        .await?;
    let mut tenant = platform_handle
        .act_in(crate::error::parse_uuid(
            org_id,
            "org_id",
            "an organization",
        )?)
        .await?;
    let mut errors = BTreeMap::new();
    let plan_name = plan_name.trim().to_string();
    if plan_name.is_empty() {
        errors.insert(
            "plan_name".to_string(),
            vec!["Enter a plan name, like pro_monthly.".to_string()],
        );
    } else if plan_name.len() > 60
        || !plan_name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
    {
        errors.insert(
            "plan_name".to_string(),
            vec![
                "Use lowercase letters, digits, dots, dashes and underscores (at most 60)."
                    .to_string(),
            ],
        );
    }
    let seats = match seats.trim().parse::<i32>() {
        Ok(n) if (0..=1_000_000).contains(&n) => n,
        _ => {
            errors.insert(
                "seats".to_string(),
                vec!["Enter a whole number of seats from 0 to 1,000,000.".to_string()],
            );
            0
        }
    };
    if !matches!(platform.as_str(), "stripe" | "custom") {
        errors.insert(
            "platform".to_string(),
            vec!["Choose Stripe or Custom.".to_string()],
        );
    }
    if !SUBSCRIPTION_STATUSES.iter().any(|(v, _)| *v == status) {
        errors.insert("status".to_string(), vec!["Choose a status.".to_string()]);
    }
    let cancel_reason = cancel_reason.trim().to_string();
    if cancel_reason.chars().count() > 500 {
        errors.insert(
            "cancel_reason".to_string(),
            vec!["Use at most 500 characters.".to_string()],
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let org = tenant.org_id;
    // Entering "cancelled" records when; entering "past_due" starts a 7-day grace period.
    sqlx::query!(
        "insert into subscription (org_id, plan_name, seats, platform, status, cancel_reason,
                                   cancelled_at, grace_period_end)
         values ($1, $2, $3, $4, $5, $6,
                 case when $5 = 'cancelled' then now() end,
                 case when $5 = 'past_due' then now() + interval '7 days' end)
         on conflict (org_id) do update
           set plan_name = excluded.plan_name, seats = excluded.seats,
               platform = excluded.platform, status = excluded.status,
               cancel_reason = case when excluded.status = 'cancelled'
                                    then excluded.cancel_reason else '' end,
               cancelled_at = case when excluded.status <> 'cancelled' then null
                                   else coalesce(subscription.cancelled_at, now()) end,
               grace_period_end = case when excluded.status <> 'past_due' then null
                                       else coalesce(subscription.grace_period_end,
                                                     now() + interval '7 days') end,
               updated_at = now()",
        org,
        plan_name,
        seats,
        platform,
        status,
        cancel_reason
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit(
            "subscription.update",
            &plan_name,
            json!({ "seats": seats, "platform": platform, "status": status }),
        )
        .await?;
    tenant.commit().await
}

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
