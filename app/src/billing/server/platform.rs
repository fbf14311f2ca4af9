//! The platform's side of billing (superadmins only): the overview across orgs, model prices
//! and plans.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use leptos::server_fn::ServerFn;
use serde_json::json;
use sqlx::PgPool;

use super::super::{money::parse_dollars, ModelPrice, Overview, OverviewRow, PlanRow};
use crate::{
    tenancy::gate::{Gate, Platform},
    AppError,
};

use super::*;

/// The platform handle for a change to prices and plans (superadmins).
async fn superadmin(endpoint: &'static str) -> Result<Platform, AppError> {
    Gate::open(endpoint)?.platform().await
}

pub async fn overview(page: i64) -> Result<Overview, AppError> {
    let platform = superadmin(crate::billing::BillingOverview::PATH).await?;
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
        let ma = crate::billing::money::margin_basis_points(a.revenue_cents, a.cost_micros);
        let mb = crate::billing::money::margin_basis_points(b.revenue_cents, b.cost_micros);
        match (ma, mb) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.cost_micros.cmp(&a.cost_micros),
        }
        .then_with(|| a.number.cmp(&b.number))
    });
    let ranked = orgs.len() as i64;
    let pages = (ranked + crate::billing::RANKING_PAGE - 1) / crate::billing::RANKING_PAGE;
    let page = page.clamp(1, pages.max(1));
    let first = ((page - 1) * crate::billing::RANKING_PAGE) as usize;
    let orgs: Vec<OverviewRow> = orgs
        .into_iter()
        .skip(first)
        .take(crate::billing::RANKING_PAGE as usize)
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

/// Settings → Models: every model's prices.
pub async fn list_model_prices() -> Result<Vec<ModelPrice>, AppError> {
    let platform = superadmin(crate::billing::ListModelPrices::PATH).await?;
    model_prices(platform.pool()).await
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
    let platform = superadmin(crate::billing::SaveModelPrice::PATH).await?;
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
    let mut tx = platform.begin().await?;
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
    let platform = superadmin(crate::billing::DeleteModelPrice::PATH).await?;
    let date = NaiveDate::parse_from_str(effective_from.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field("effective_from", "This is not a date."))?;
    // Through the platform function: usage sits behind row-level security, and the caller acts
    // in no org, so a direct query would always find none. The check and the delete are one
    // statement: that narrows the window for usage priced meanwhile, but does not close it
    // (the pricing trigger takes no lock on the price row).
    let mut tx = platform.begin().await?;
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
                    crate::billing::money::group(max as u128)
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
    let platform = superadmin(crate::billing::DeletePlan::PATH).await?;
    let name = plan_name.trim();
    let mut tx = platform.begin().await?;
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
    let platform = superadmin(crate::billing::SavePlan::PATH).await?;
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
    let mut tx = platform.begin().await?;
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
