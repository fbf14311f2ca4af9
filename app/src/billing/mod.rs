//! Billing: what each org is charged (a default rate per agent per month, overridable per
//! agent), what its agents' tokens cost (model prices with effective dates), and the margin;
//! usage ingestion with allowances per plan; LLM keys; and the Stripe subscription.

pub mod money;
mod page;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod stripe;
mod subscription_tab;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use page::{Allowances, BillingPage, ModelPrices, OrgBillingTab};
pub use subscription_tab::SubscriptionTab;

use crate::AppError;

/// The org detail view's Billing & Costs tab for one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTab {
    /// `YYYY-MM`.
    pub month: String,
    /// The months one may pick, newest first (the last twelve).
    pub months: Vec<String>,
    /// The current month: computed live; earlier months are frozen records.
    pub live: bool,
    pub default_rate_cents: i64,
    pub lines: Vec<AgentLine>,
    /// The last twelve months up to the selected one, oldest first.
    pub history: Vec<MonthPoint>,
    pub allowances: Vec<Allowance>,
    pub alerts: Vec<AlertRow>,
    pub plan_name: String,
}

impl BillingTab {
    pub fn revenue_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.rate_cents).sum()
    }

    pub fn cost_micros(&self) -> i128 {
        self.lines.iter().map(|l| l.cost_micros).sum()
    }
}

/// One agent's month: its rate, whether it overrides the org's default, its tokens and cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLine {
    pub agent_id: String,
    pub name: String,
    pub rate_cents: i64,
    pub overridden: bool,
    pub input_tokens: u128,
    pub output_tokens: u128,
    pub cost_micros: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthPoint {
    pub month: String,
    pub revenue_cents: i64,
    pub cost_micros: i128,
}

/// An allowance of the org's plan and what is used of it (`quota` `None`: no limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    pub resource: String,
    pub used: i64,
    pub quota: Option<i64>,
}

impl Allowance {
    /// Percent used, rounded down; `None` without a limit.
    pub fn percent(&self) -> Option<i64> {
        self.quota.map(|q| {
            if q <= 0 {
                100
            } else {
                (self.used as i128 * 100 / q as i128) as i64
            }
        })
    }

    pub fn label(&self) -> &'static str {
        resource_label(&self.resource)
    }
}

/// What people call an allowance's resource.
pub fn resource_label(resource: &str) -> &'static str {
    match resource {
        "agents" => "Agents",
        "seats" => "Seats",
        "storage" => "Knowledge storage",
        _ => "AI tokens this month",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    pub resource: String,
    pub threshold: i32,
    pub used: i64,
    pub quota: i64,
    pub fired_at: chrono::DateTime<chrono::Utc>,
}

/// A model's price from a date on, in micro-dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub model: String,
    pub effective_from: chrono::NaiveDate,
    pub input_micros: u64,
    pub output_micros: u64,
}

/// One org on the platform overview (this month, live).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewRow {
    pub org_id: String,
    pub number: i64,
    pub name: String,
    pub agents: i64,
    pub revenue_cents: i64,
    pub cost_micros: i128,
}

/// Orgs per page of the platform's margin ranking.
pub const RANKING_PAGE: i64 = 50;

/// The platform Billing page: orgs ranked by margin, and plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub month: String,
    /// One page of the ranking (`RANKING_PAGE` orgs), best margin first.
    pub orgs: Vec<OverviewRow>,
    /// How many orgs the whole ranking has, which page this is, and the rank of its first row.
    pub ranked: i64,
    pub page: i64,
    pub first_rank: i64,
    /// The model prices, for pages of the previous release (they moved to Settings → Models,
    /// `billing/model_prices`): drop in the release after.
    #[serde(default)]
    pub prices: Vec<ModelPrice>,
    pub plans: Vec<PlanRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub plan_name: String,
    pub max_agents: Option<i64>,
    pub max_seats: Option<i64>,
    pub max_storage_bytes: Option<i64>,
    pub max_tokens_per_month: Option<i64>,
}

/// An org's subscription record: set by superadmins and by Stripe's webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub plan_name: String,
    pub seats: i32,
    /// `stripe` or `custom`.
    pub platform: String,
    /// `active`, `trialing`, `past_due` or `cancelled`.
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub trial_end: Option<chrono::DateTime<chrono::Utc>>,
    pub current_period_end: Option<chrono::DateTime<chrono::Utc>>,
    pub cancelled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub cancel_reason: String,
    pub grace_period_end: Option<chrono::DateTime<chrono::Utc>>,
}

/// Subscription statuses: (stored value, label).
pub const SUBSCRIPTION_STATUSES: [(&str, &str); 4] = [
    ("active", "Active"),
    ("trialing", "Trialing"),
    ("past_due", "Past Due"),
    ("cancelled", "Cancelled"),
];

/// Saves the Subscription tab: plan, seats, platform and status (Stripe's fields are read-only).
#[server(endpoint = "billing/update_subscription")]
pub async fn update_subscription(
    org_id: String,
    plan_name: String,
    seats: String,
    platform: String,
    status: String,
    #[server(default)] cancel_reason: String,
) -> Result<(), AppError> {
    server::update_subscription(&org_id, plan_name, seats, platform, status, cancel_reason).await?;
    leptos_axum::redirect(&format!(
        "/organizations/{org_id}/edit?tab=subscription&saved=1"
    ));
    Ok(())
}

/// The org's Billing & Costs tab for one month (`""`: the current one): read-only to the org,
/// whose rates and plan are the platform's to set.
#[server(endpoint = "billing/org_billing")]
pub async fn org_billing(
    org_id: String,
    #[server(default)] month: String,
) -> Result<BillingTab, AppError> {
    let gate = crate::tenancy::gate::Gate::open(<OrgBilling as leptos::server_fn::ServerFn>::PATH)?;
    server::tab_in(gate, &org_id, &month).await
}

/// Sets the org's default rate per agent per month (dollars, like "50" or "49.99").
#[server(endpoint = "billing/set_default_rate")]
pub async fn set_default_rate(org_id: String, rate: String) -> Result<(), AppError> {
    server::set_default_rate(&org_id, &rate).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/billing?saved=rate"));
    Ok(())
}

/// Sets one agent's rate in the org; an empty rate removes the override.
#[server(endpoint = "billing/set_agent_rate")]
pub async fn set_agent_rate(
    org_id: String,
    agent_id: String,
    #[server(default)] rate: String,
) -> Result<(), AppError> {
    server::set_agent_rate(&org_id, &agent_id, &rate).await?;
    leptos_axum::redirect(&format!("/organizations/{org_id}/billing?saved=rate"));
    Ok(())
}

/// The platform Billing page (superadmins).
#[server(endpoint = "billing/overview")]
pub async fn billing_overview(#[server(default)] page: Option<i64>) -> Result<Overview, AppError> {
    server::overview(page.unwrap_or(1)).await
}

/// Every model's prices, newest first per model (Settings → Models; superadmins).
#[server(endpoint = "billing/model_prices")]
pub async fn list_model_prices() -> Result<Vec<ModelPrice>, AppError> {
    server::list_model_prices().await
}

/// Adds or replaces a model's price from a date on (superadmins). Prices in dollars per
/// million tokens, up to six decimals.
#[server(endpoint = "billing/save_model_price")]
pub async fn save_model_price(
    model: String,
    effective_from: String,
    input_price: String,
    output_price: String,
) -> Result<(), AppError> {
    server::save_model_price(&model, &effective_from, &input_price, &output_price).await?;
    leptos_axum::redirect("/settings?saved=price");
    Ok(())
}

#[server(endpoint = "billing/delete_model_price")]
pub async fn delete_model_price(model: String, effective_from: String) -> Result<(), AppError> {
    server::delete_model_price(&model, &effective_from).await?;
    leptos_axum::redirect("/settings?saved=price-deleted");
    Ok(())
}

/// Deletes a plan no organization is on (superadmins).
#[server(endpoint = "billing/delete_plan")]
pub async fn delete_plan(plan_name: String) -> Result<(), AppError> {
    server::delete_plan(&plan_name).await?;
    leptos_axum::redirect("/billing?saved=plan-deleted");
    Ok(())
}

/// Starts a Stripe subscription for the org on a Stripe price or plan id (superadmins).
#[server(endpoint = "billing/start_stripe_subscription")]
pub async fn start_stripe_subscription(org_id: String, price: String) -> Result<(), AppError> {
    let gate = crate::tenancy::gate::Gate::open(
        <StartStripeSubscription as leptos::server_fn::ServerFn>::PATH,
    )?;
    stripe::start(gate, &org_id, &price).await?;
    leptos_axum::redirect(&format!(
        "/organizations/{org_id}/edit?tab=subscription&saved=1"
    ));
    Ok(())
}

/// Adds or changes a plan's allowances (superadmins); an empty limit means none. Storage in
/// megabytes.
#[server(endpoint = "billing/save_plan")]
pub async fn save_plan(
    plan_name: String,
    #[server(default)] max_agents: String,
    #[server(default)] max_seats: String,
    #[server(default)] max_storage_mb: String,
    #[server(default)] max_tokens_per_month: String,
) -> Result<(), AppError> {
    server::save_plan(
        &plan_name,
        &max_agents,
        &max_seats,
        &max_storage_mb,
        &max_tokens_per_month,
    )
    .await?;
    leptos_axum::redirect("/billing?saved=plan");
    Ok(())
}
