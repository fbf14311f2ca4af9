//! Rates: what the platform bills an org per agent. Entitlements, so superadmins set them,
//! through a tenant handle opened on the platform path.

use leptos::server_fn::ServerFn;
use serde_json::json;

use super::super::money::parse_dollars;
use crate::{
    error::parse_uuid,
    tenancy::gate::{Gate, Tenant},
    AppError,
};

fn rate_cents(text: &str, field: &str) -> Result<i64, AppError> {
    let cents = parse_dollars(text, 2).map_err(|msg| AppError::field(field, msg))?;
    if cents > 100_000_000_000 {
        return Err(AppError::field(field, "Use at most $1,000,000,000.00."));
    }
    Ok(cents as i64)
}

/// The tenant handle for a platform change to `org_id`'s entitlements (rates, plans): only a
/// superadmin's.
async fn entitlement(endpoint: &'static str, org_id: &str) -> Result<Tenant, AppError> {
    let platform = Gate::open(endpoint)?.platform().await?;
    platform
        .act_in(parse_uuid(org_id, "org_id", "an organization")?)
        .await
}

pub async fn set_default_rate(org_id: &str, rate: &str) -> Result<(), AppError> {
    let mut tenant = entitlement(crate::billing::SetDefaultRate::PATH, org_id).await?;
    let cents = rate_cents(rate, "rate")?;
    let org = tenant.org_id;
    sqlx::query!(
        "update org_account set default_rate_cents = $2 where org_id = $1",
        org,
        cents
    )
    .execute(tenant.conn())
    .await?;
    tenant
        .audit("billing.default_rate", "", json!({ "rate_cents": cents }))
        .await?;
    tenant.commit().await
}

pub async fn set_agent_rate(org_id: &str, agent_id: &str, rate: &str) -> Result<(), AppError> {
    let mut tenant = entitlement(crate::billing::SetAgentRate::PATH, org_id).await?;
    let agent = parse_uuid(agent_id, "agent_id", "an agent")?;
    let org = tenant.org_id;
    let name = sqlx::query_scalar!(
        "select name from agent where agent_id = $1 and org_id = $2",
        agent,
        org
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::field("agent_id", "This agent does not serve this organization."))?;
    if rate.trim().is_empty() {
        sqlx::query!(
            "delete from agent_rate where org_id = $1 and agent_id = $2",
            org,
            agent
        )
        .execute(tenant.conn())
        .await?;
        tenant
            .audit("billing.agent_rate", &name, json!({ "rate_cents": null }))
            .await?;
    } else {
        let cents = rate_cents(rate, "rate")?;
        sqlx::query!(
            "insert into agent_rate (org_id, agent_id, rate_cents) values ($1, $2, $3)
             on conflict (org_id, agent_id) do update set rate_cents = $3, updated_at = now()",
            org,
            agent,
            cents
        )
        .execute(tenant.conn())
        .await?;
        tenant
            .audit("billing.agent_rate", &name, json!({ "rate_cents": cents }))
            .await?;
    }
    tenant.commit().await
}
