//! The server side of billing: the Billing & Costs tab, rates, model prices, the platform
//! overview, usage ingestion for agents, and the monthly jobs.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use leptos::server_fn::ServerFn;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    money::{parse_dollars, revenue_cents},
    AgentLine, AlertRow, Allowance, BillingTab, ModelPrice, MonthPoint, Overview, OverviewRow,
    PlanRow,
};
use crate::{
    error::parse_uuid,
    tenancy::{
        agent::AgentTenant,
        gate::{Gate, Platform, Tenant},
    },
    AppError,
};

/// Most events in one usage batch.
pub const MAX_BATCH: usize = 1000;

/// The first day of the month a date is in.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("every month has a first day")
}

fn add_months(month: NaiveDate, n: i32) -> NaiveDate {
    let total = month.year() * 12 + month.month0() as i32 + n;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .expect("a valid month")
}

fn month_key(month: NaiveDate) -> String {
    month.format("%Y-%m").to_string()
}

/// `YYYY-MM` into its first day, or a field error.
fn parse_month(text: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::field("month", "Pick a month, like 2026-11."))
}

/// One agent's line from the numbers SQL gives as text (sums exceed 64 bits).
fn line(
    agent_id: Uuid,
    name: String,
    rate_cents: i64,
    overridden: bool,
    input: &str,
    output: &str,
    cost: &str,
) -> AgentLine {
    AgentLine {
        agent_id: agent_id.to_string(),
        name,
        rate_cents,
        overridden,
        input_tokens: input.parse().unwrap_or(0),
        output_tokens: output.parse().unwrap_or(0),
        cost_micros: cost.parse().unwrap_or(0),
    }
}

fn big(text: Option<String>) -> i128 {
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// The tab for one month (`""`: the current one).
pub async fn tab_in(gate: Gate, org_id: &str, month: &str) -> Result<BillingTab, AppError> {
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let current = month_of(Utc::now().date_naive());
    let month = if month.trim().is_empty() {
        current
    } else {
        parse_month(month)?
    };
    if month > current {
        return Err(AppError::field("month", "That month has not begun yet."));
    }
    let account = sqlx::query!(
        "select default_rate_cents, closed_through from org_account where org_id = $1",
        org
    )
    .fetch_one(tenant.conn())
    .await?;
    let closed = |m: NaiveDate| account.closed_through.is_some_and(|c| m <= c);

    // The agents serving the org now, at their rates, with this month's usage; and any agent
    // with usage that no longer serves it (no rate).
    let live_lines = sqlx::query!(
        r#"with used as (
             select agent_id, sum(input_tokens) as i, sum(output_tokens) as o,
                    sum(cost_micros) as c
               from usage_month where org_id = $1 and month = $2 group by agent_id)
           select a.agent_id as "agent_id!", a.name as "name!", true as "serving!",
                  r.rate_cents as override_cents,
                  coalesce(u.i, 0)::text as "i!", coalesce(u.o, 0)::text as "o!",
                  round(coalesce(u.c, 0))::text as "c!"
             from agent a
             left join agent_rate r on r.org_id = a.org_id and r.agent_id = a.agent_id
             left join used u on u.agent_id = a.agent_id
            where a.org_id = $1
           union all
           select u.agent_id, coalesce(a.name, 'Former agent'), false, null,
                  u.i::text, u.o::text, round(u.c)::text
             from used u left join agent a on a.agent_id = u.agent_id
            where a.org_id is distinct from $1
           order by 2"#,
        org,
        month
    )
    .fetch_all(tenant.conn())
    .await?;
    let default_rate = account.default_rate_cents;
    let serving: Vec<Option<i64>> = live_lines
        .iter()
        .filter(|l| l.serving)
        .map(|l| l.override_cents)
        .collect();
    let live_revenue = revenue_cents(default_rate, &serving);

    let lines = if closed(month) {
        sqlx::query!(
            r#"select agent_id, agent_name, rate_cents, input_tokens::text as "i!",
                      output_tokens::text as "o!", round(cost_micros)::text as "c!"
                 from billing_record where org_id = $1 and month = $2 order by agent_name"#,
            org,
            month
        )
        .fetch_all(tenant.conn())
        .await?
        .into_iter()
        .map(|r| {
            line(
                r.agent_id,
                r.agent_name,
                r.rate_cents,
                false,
                &r.i,
                &r.o,
                &r.c,
            )
        })
        .collect()
    } else {
        live_lines
            .into_iter()
            .map(|r| {
                // Serving agents at their override, else the default; former ones earn nothing.
                let rate = if r.serving {
                    revenue_cents(default_rate, &[r.override_cents])
                } else {
                    0
                };
                let overridden = r.override_cents.is_some();
                line(r.agent_id, r.name, rate, overridden, &r.i, &r.o, &r.c)
            })
            .collect()
    };

    let first = add_months(month, -11);
    let frozen: BTreeMap<NaiveDate, (i64, i128)> = sqlx::query!(
        r#"select month, sum(rate_cents)::bigint as "revenue!", round(sum(cost_micros))::text as cost
             from billing_record where org_id = $1 and month between $2 and $3 group by month"#,
        org,
        first,
        month
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|r| (r.month, (r.revenue, big(r.cost))))
    .collect();
    let usage: BTreeMap<NaiveDate, i128> = sqlx::query!(
        r#"select month, round(sum(cost_micros))::text as cost
             from usage_month where org_id = $1 and month between $2 and $3 group by month"#,
        org,
        first,
        month
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|r| (r.month, big(r.cost)))
    .collect();
    let history = (0..12)
        .map(|i| {
            let m = add_months(first, i);
            let (revenue_cents, cost_micros) = if closed(m) {
                frozen.get(&m).copied().unwrap_or((0, 0))
            } else {
                // A past month not closed had nobody serving the org when the job ran (it closes
                // every month with agents or usage), so it earned nothing; only now is live.
                let revenue = if m == current { live_revenue } else { 0 };
                (revenue, usage.get(&m).copied().unwrap_or(0))
            };
            MonthPoint {
                month: month_key(m),
                revenue_cents,
                cost_micros,
            }
        })
        .collect();

    let (allowances, plan_name) = health(&mut tenant).await?;
    let alerts = sqlx::query!(
        "select resource, threshold, used, quota, fired_at from quota_alert
          where org_id = $1 order by fired_at desc limit 20",
        org
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|a| AlertRow {
        resource: a.resource,
        threshold: a.threshold,
        used: a.used,
        quota: a.quota,
        fired_at: a.fired_at,
    })
    .collect();
    tenant.commit().await?;
    Ok(BillingTab {
        month: month_key(month),
        months: (0..12)
            .map(|i| month_key(add_months(current, -i)))
            .collect(),
        live: !closed(month),
        default_rate_cents: account.default_rate_cents,
        lines,
        history,
        allowances,
        alerts,
        plan_name,
    })
}

/// The org's allowances and their use (its health's "allowance pressure"), and its plan.
pub(crate) async fn health(tenant: &mut Tenant) -> Result<(Vec<Allowance>, String), AppError> {
    let org = tenant.org_id;
    let allowances = sqlx::query!(
        r#"select resource as "resource!", used as "used!", quota from org_allowances($1)"#,
        org
    )
    .fetch_all(tenant.conn())
    .await?
    .into_iter()
    .map(|r| Allowance {
        resource: r.resource,
        used: r.used,
        quota: r.quota,
    })
    .collect();
    let plan = sqlx::query_scalar!("select plan_name from subscription where org_id = $1", org)
        .fetch_optional(tenant.conn())
        .await?
        .unwrap_or_default();
    Ok((allowances, plan))
}

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
    let mut tenant = entitlement(super::SetDefaultRate::PATH, org_id).await?;
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
    let mut tenant = entitlement(super::SetAgentRate::PATH, org_id).await?;
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

/// The platform handle for a change to prices and plans (superadmins).
async fn superadmin(endpoint: &'static str) -> Result<Platform, AppError> {
    Gate::open(endpoint)?.platform().await
}

pub async fn overview(page: i64) -> Result<Overview, AppError> {
    let platform = superadmin(super::BillingOverview::PATH).await?;
    let mut orgs: Vec<OverviewRow> = sqlx::query!(
        r#"select org_id as "org_id!", org_number as "number!", name as "name!",
                  agents as "agents!", revenue_cents as "revenue!",
                  round(cost_micros)::text as cost
             from platform.margin_overview()"#
    )
    .fetch_all(platform.pool())
    .await?
    .into_iter()
    .map(|r| OverviewRow {
        org_id: r.org_id.to_string(),
        number: r.number,
        name: r.name,
        agents: r.agents,
        revenue_cents: r.revenue,
        cost_micros: big(r.cost),
    })
    .collect();
    // Best margin first; orgs without revenue (no margin) last, by cost.
    orgs.sort_by(|a, b| {
        let ma = super::money::margin_basis_points(a.revenue_cents, a.cost_micros);
        let mb = super::money::margin_basis_points(b.revenue_cents, b.cost_micros);
        match (ma, mb) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.cost_micros.cmp(&a.cost_micros),
        }
        .then_with(|| a.number.cmp(&b.number))
    });
    let ranked = orgs.len() as i64;
    let pages = (ranked + super::RANKING_PAGE - 1) / super::RANKING_PAGE;
    let page = page.clamp(1, pages.max(1));
    let first = ((page - 1) * super::RANKING_PAGE) as usize;
    let orgs: Vec<OverviewRow> = orgs
        .into_iter()
        .skip(first)
        .take(super::RANKING_PAGE as usize)
        .collect();
    let prices = model_prices(platform.pool()).await?;
    let plans = sqlx::query!(
        r#"select plan_name, max_agents::bigint as max_agents, max_seats::bigint as max_seats,
                  max_storage_bytes, max_tokens_per_month from plan order by plan_name"#
    )
    .fetch_all(platform.pool())
    .await?
    .into_iter()
    .map(|p| PlanRow {
        plan_name: p.plan_name,
        max_agents: p.max_agents,
        max_seats: p.max_seats,
        max_storage_bytes: p.max_storage_bytes,
        max_tokens_per_month: p.max_tokens_per_month,
    })
    .collect();
    Ok(Overview {
        month: month_key(month_of(Utc::now().date_naive())),
        orgs,
        ranked,
        page,
        first_rank: first as i64 + 1,
        prices,
        plans,
    })
}

pub async fn model_prices(pool: &PgPool) -> Result<Vec<ModelPrice>, AppError> {
    Ok(sqlx::query!(
        "select model, effective_from, input_micros_per_mtok, output_micros_per_mtok
           from model_price order by model, effective_from desc"
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|p| ModelPrice {
        model: p.model,
        effective_from: p.effective_from,
        input_micros: p.input_micros_per_mtok as u64,
        output_micros: p.output_micros_per_mtok as u64,
    })
    .collect())
}

fn valid_model(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 100
        && model
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
}

pub async fn save_model_price(
    model: &str,
    effective_from: &str,
    input_price: &str,
    output_price: &str,
) -> Result<(), AppError> {
    let platform = superadmin(super::SaveModelPrice::PATH).await?;
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let model = model.trim();
    if !valid_model(model) {
        errors.insert(
            "model".into(),
            vec!["Use the model's id: letters, digits and . _ : / -, like gpt-4o-mini.".into()],
        );
    }
    let date = NaiveDate::parse_from_str(effective_from.trim(), "%Y-%m-%d");
    if date.is_err() {
        errors.insert(
            "effective_from".into(),
            vec!["Enter the date the price applies from, like 2026-12-01.".into()],
        );
    }
    let mut price = |text: &str, field: &str| match parse_dollars(text, 6) {
        Ok(micros) if micros <= 1_000_000_000_000 => Some(micros as i64),
        Ok(_) => {
            errors.insert(
                field.into(),
                vec!["Use at most $1,000,000 per million tokens.".into()],
            );
            None
        }
        Err(msg) => {
            errors.insert(field.into(), vec![msg]);
            None
        }
    };
    let input = price(input_price, "input_price");
    let output = price(output_price, "output_price");
    let (Ok(date), Some(input), Some(output)) = (date, input, output) else {
        return Err(AppError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // Months before this one are closed (or about to be) and their billing frozen: a price
    // starting in one would contradict the records.
    if month_of(date) < month_of(Utc::now().date_naive()) {
        return Err(AppError::field(
            "effective_from",
            "Months before this one are closed and their billing frozen; a new price can start this month at the earliest.",
        ));
    }
    let mut tx = platform.pool().begin().await?;
    sqlx::query!(
        "insert into model_price (model, effective_from, input_micros_per_mtok, output_micros_per_mtok)
         values ($1, $2, $3, $4)
         on conflict (model, effective_from) do update
           set input_micros_per_mtok = $3, output_micros_per_mtok = $4",
        model,
        date,
        input,
        output
    )
    .execute(&mut *tx)
    .await?;
    platform
        .audit(
            &mut tx,
            "billing.model_price",
            &model,
            json!({ "effective_from": date, "input_micros_per_mtok": input,
                    "output_micros_per_mtok": output }),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_model_price(model: &str, effective_from: &str) -> Result<(), AppError> {
    let platform = superadmin(super::DeleteModelPrice::PATH).await?;
    let date = NaiveDate::parse_from_str(effective_from.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field("effective_from", "This is not a date."))?;
    // Through the platform function: usage sits behind row-level security, and the caller acts
    // in no org, so a direct query would always find none. The check and the delete are one
    // statement: that narrows the window for usage priced meanwhile, but does not close it
    // (the pricing trigger takes no lock on the price row).
    let mut tx = platform.pool().begin().await?;
    let done = sqlx::query!(
        "delete from model_price where model = $1 and effective_from = $2
            and not platform.model_price_in_use($1)",
        model.trim(),
        date
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        let used = sqlx::query_scalar!(
            r#"select platform.model_price_in_use($1) as "used!""#,
            model.trim()
        )
        .fetch_one(&mut *tx)
        .await?;
        return Err(if used {
            AppError::Conflict(
                "Usage was already priced with this model; add a new price from a later date instead.".into(),
            )
        } else {
            AppError::NotFound("The price".into())
        });
    }
    platform
        .audit(
            &mut tx,
            "billing.model_price_delete",
            model.trim(),
            json!({ "effective_from": date }),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A limit as typed: empty is none, else a whole number from 0 to `max`.
fn limit(
    text: &str,
    field: &str,
    max: i64,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<i64> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    match cleaned.parse::<i64>() {
        Ok(v) if (0..=max).contains(&v) => Some(v),
        _ => {
            errors.insert(
                field.into(),
                vec![format!(
                    "Enter a whole number from 0 to {}, or leave it empty for no limit.",
                    super::money::group(max as u128)
                )],
            );
            None
        }
    }
}

/// Deletes a plan no org's subscription is on (superadmins). The check and the delete are one
/// statement, which narrows, but does not close, the window for a subscription moved onto the
/// plan at that moment.
pub async fn delete_plan(plan_name: &str) -> Result<(), AppError> {
    let platform = superadmin(super::DeletePlan::PATH).await?;
    let name = plan_name.trim();
    let mut tx = platform.pool().begin().await?;
    let done = sqlx::query!(
        "delete from plan where plan_name = $1 and platform.plan_in_use($1) = 0",
        name
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        let on_it = sqlx::query_scalar!(r#"select platform.plan_in_use($1) as "n!""#, name)
            .fetch_one(&mut *tx)
            .await?;
        return Err(if on_it > 0 {
            AppError::Conflict(format!(
                "{on_it} organization{} on this plan; move {} to another plan first.",
                if on_it == 1 { " is" } else { "s are" },
                if on_it == 1 { "it" } else { "them" }
            ))
        } else {
            AppError::NotFound("The plan".into())
        });
    }
    platform
        .audit(&mut tx, "billing.plan_delete", name, json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn save_plan(
    plan_name: &str,
    max_agents: &str,
    max_seats: &str,
    max_storage_mb: &str,
    max_tokens: &str,
) -> Result<(), AppError> {
    let platform = superadmin(super::SavePlan::PATH).await?;
    let mut errors = BTreeMap::new();
    let name = plan_name.trim().to_lowercase();
    if name.is_empty()
        || name.len() > 60
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
    {
        errors.insert(
            "plan_name".into(),
            vec![
                "Use 1 to 60 lower-case letters, digits, '.', '_' or '-', like pro_monthly.".into(),
            ],
        );
    }
    let agents = limit(max_agents, "max_agents", i32::MAX as i64, &mut errors);
    let seats = limit(max_seats, "max_seats", i32::MAX as i64, &mut errors);
    let storage = limit(max_storage_mb, "max_storage_mb", 1 << 40, &mut errors);
    let tokens = limit(
        max_tokens,
        "max_tokens_per_month",
        i64::MAX / 2,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut tx = platform.pool().begin().await?;
    sqlx::query!(
        "insert into plan (plan_name, max_agents, max_seats, max_storage_bytes, max_tokens_per_month)
         values ($1, $2, $3, $4::bigint * 1048576, $5)
         on conflict (plan_name) do update
           set max_agents = $2, max_seats = $3, max_storage_bytes = $4::bigint * 1048576,
               max_tokens_per_month = $5",
        name,
        agents.map(|v| v as i32),
        seats.map(|v| v as i32),
        storage,
        tokens
    )
    .execute(&mut *tx)
    .await?;
    platform
        .audit(
            &mut tx,
            "billing.plan",
            &name,
            json!({ "max_agents": agents, "max_seats": seats, "max_storage_mb": storage,
                    "max_tokens_per_month": tokens }),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What a usage batch did.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Ingested {
    /// Events counted now.
    pub accepted: usize,
    /// Events whose idempotency key was seen before (counted once, earlier).
    pub duplicates: usize,
}

struct Event {
    key: String,
    model: String,
    input: i64,
    output: i64,
    at: DateTime<Utc>,
}

/// Reads one event, naming each bad field as `<prefix>field`.
fn read_event(
    value: &Value,
    prefix: &str,
    agent: Uuid,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<Event> {
    let mut fail = |field: &str, msg: &str| {
        errors
            .entry(format!("{prefix}{field}"))
            .or_default()
            .push(msg.to_string());
    };
    let Some(obj) = value.as_object() else {
        fail("", "Each event is an object.");
        return None;
    };
    if let Some(given) = obj.get("agent_id") {
        match given.as_str().map(|s| Uuid::parse_str(s.trim())) {
            Some(Ok(id)) if id == agent => {}
            Some(Ok(_)) => fail(
                "agent_id",
                "This is another agent: report an agent's usage with its own key.",
            ),
            _ => fail("agent_id", "This is not an agent id."),
        }
    }
    let model = match obj.get("model").and_then(Value::as_str).map(str::trim) {
        Some(m) if !m.is_empty() => Some(m.to_string()),
        _ => {
            fail("model", "Name the model, like gpt-4o-mini.");
            None
        }
    };
    let mut tokens = |field: &str| match obj.get(field) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=1_000_000_000_000_000).contains(&v) => Some(v),
            Some(v) if v < 0 => {
                fail(field, "Must be 0 or more.");
                None
            }
            _ if n.as_f64().is_some_and(|f| f < 0.0) => {
                fail(field, "Must be 0 or more.");
                None
            }
            _ => {
                fail(field, "Must be a whole number of tokens, at most 10^15.");
                None
            }
        },
        None => Some(0),
        Some(_) => {
            fail(field, "Must be a whole number of tokens.");
            None
        }
    };
    let input = tokens("input_tokens");
    let output = tokens("output_tokens");
    let at = match obj.get("timestamp").and_then(Value::as_str) {
        Some(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) if t.with_timezone(&Utc) <= Utc::now() + Duration::minutes(5) => {
                Some(t.with_timezone(&Utc))
            }
            Ok(_) => {
                fail("timestamp", "This is in the future.");
                None
            }
            Err(_) => {
                fail(
                    "timestamp",
                    "Use an RFC 3339 time, like 2026-11-22T10:00:00Z.",
                );
                None
            }
        },
        None => {
            fail("timestamp", "Say when the tokens were used (RFC 3339).");
            None
        }
    };
    let key = match obj
        .get("idempotency_key")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(k) if !k.is_empty() && k.len() <= 200 => Some(k.to_string()),
        _ => {
            fail(
                "idempotency_key",
                "Give each event a unique key of 1 to 200 characters, so a retry counts once.",
            );
            None
        }
    };
    Some(Event {
        key: key?,
        model: model?,
        input: input?,
        output: output?,
        at: at?,
    })
}

/// Records an agent's usage: one event or `{"events": [...]}` (at most [`MAX_BATCH`]). All or
/// nothing: a bad field, an unpriced model, a closed month or an exceeded allowance refuses
/// the whole batch; an event whose key was seen before is counted once.
pub async fn ingest(agent: &mut AgentTenant, body: &Value) -> Result<Ingested, AppError> {
    let (items, prefix): (Vec<&Value>, bool) = match body.get("events") {
        Some(Value::Array(events)) => (events.iter().collect(), true),
        Some(_) => return Err(AppError::field("events", "Send a list of events.")),
        None => (vec![body], false),
    };
    if items.is_empty() {
        return Err(AppError::field("events", "Send at least one event."));
    }
    if items.len() > MAX_BATCH {
        return Err(AppError::field(
            "events",
            format!(
                "Send at most {MAX_BATCH} events per batch (this has {}).",
                items.len()
            ),
        ));
    }
    // How a field of event `i` is named in errors: `events[i].model`, or `model` alone.
    let at = |i: usize| {
        if prefix {
            format!("events[{i}].")
        } else {
            String::new()
        }
    };
    let mut errors = BTreeMap::new();
    let events: Vec<Option<Event>> = items
        .iter()
        .enumerate()
        .map(|(i, v)| read_event(v, &at(i), agent.agent_id, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let events: Vec<Event> = events.into_iter().flatten().collect();
    let org = agent.org_id;

    let models: Vec<String> = events.iter().map(|e| e.model.clone()).collect();
    let days: Vec<NaiveDate> = events.iter().map(|e| e.at.date_naive()).collect();
    let unpriced = sqlx::query!(
        r#"select x.n::int as "n!", x.m as "model!",
                  (select min(p.effective_from) from model_price p where p.model = x.m) as first
             from unnest($1::text[], $2::date[]) with ordinality as x(m, d, n)
            where not exists (select from model_price p
                               where p.model = x.m and p.effective_from <= x.d)"#,
        &models,
        &days
    )
    .fetch_all(agent.conn())
    .await?;
    for u in unpriced {
        let i = (u.n - 1) as usize;
        let msg = match u.first {
            None => format!(
                "Unknown model {}: it has no price under Billing → Model prices.",
                u.model
            ),
            Some(first) => format!("{} has no price before {first}.", u.model),
        };
        errors
            .entry(format!("{}model", at(i)))
            .or_default()
            .push(msg);
    }
    let closed = sqlx::query_scalar!(
        "select closed_through from org_account where org_id = $1",
        org
    )
    .fetch_one(agent.conn())
    .await?;
    if let Some(closed) = closed {
        for (i, e) in events.iter().enumerate() {
            if month_of(e.at.date_naive()) <= closed {
                errors
                    .entry(format!("{}timestamp", at(i)))
                    .or_default()
                    .push(format!(
                    "{} is closed and its billing frozen; usage for it can no longer be recorded.",
                    e.at.format("%B %Y")
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }

    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    let inputs: Vec<i64> = events.iter().map(|e| e.input).collect();
    let outputs: Vec<i64> = events.iter().map(|e| e.output).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    let agent_id = agent.agent_id;
    let inserted = sqlx::query!(
        "insert into usage_event (org_id, idempotency_key, agent_id, model, input_tokens,
                                  output_tokens, occurred_at)
         select $1, k, $2, m, i, o, t
           from unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
                as x(k, m, i, o, t)
         on conflict (org_id, agent_id, idempotency_key) do nothing",
        org,
        agent_id,
        &keys,
        &models,
        &inputs,
        &outputs,
        &times
    )
    .execute(agent.conn())
    .await?
    .rows_affected() as usize;
    Ok(Ingested {
        accepted: inserted,
        duplicates: events.len() - inserted,
    })
}

/// The monthly jobs: start new allowance periods and freeze the months that ended. Both are
/// safe to re-run; the server runs them at start and every hour.
/// The hourly job (a system caller): resets ended allowance periods, freezes ended months.
pub async fn run_monthly_jobs(services: &crate::context::Services) -> Result<(i32, i32), AppError> {
    let lookup = crate::tenancy::gate::lookup(services);
    let pool = lookup.pool();
    let reset = sqlx::query_scalar!(r#"select platform.reset_quota_periods() as "n!""#)
        .fetch_one(pool)
        .await?;
    let closed = sqlx::query_scalar!(r#"select platform.close_billing_months() as "n!""#)
        .fetch_one(pool)
        .await?;
    Ok((reset, closed))
}
