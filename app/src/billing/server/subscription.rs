//! The subscription record: plan, seats, billing platform and status. Entitlements: the
//! platform (superadmins, and Stripe's webhooks) sets them; the org reads them.

use std::collections::BTreeMap;

use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::super::{Subscription, SUBSCRIPTION_STATUSES};
use crate::{tenancy::gate::Gate, AppError};

/// The org's subscription record, if it has one.
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

pub async fn update_subscription(
    org_id: &str,
    plan_name: String,
    seats: String,
    platform: String,
    status: String,
    cancel_reason: String,
) -> Result<(), AppError> {
    // Entitlements are the platform's: superadmins (and Stripe) set them.
    let platform_handle = Gate::open(crate::billing::UpdateSubscription::PATH)?
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
