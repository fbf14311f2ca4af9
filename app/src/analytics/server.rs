//! The Analytics tab's data: the org's ClickHouse database, read as the platform (the gate has
//! admitted the caller to this org's billing), with agent names from PostgreSQL.

use chrono::{Duration, NaiveDate, Utc};
use leptos::server_fn::ServerFn;

use super::{Analytics, Point, DEFAULT_DAYS, MAX_DAYS};
use crate::{stores::clickhouse::database, tenancy::gate::Gate, AppError};

fn date(text: &str, field: &str) -> Result<Option<NaiveDate>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| AppError::field(field, "Use a date like 2026-11-28."))
}

pub async fn org_analytics(org_id: &str, from: &str, to: &str) -> Result<Analytics, AppError> {
    let gate = Gate::open(super::OrgAnalytics::PATH)?;
    let stores = gate.services().stores.clone();
    let mut tenant = gate.tenant_in(org_id).await?;
    let org = tenant.org_id;
    let today = Utc::now().date_naive();
    let to = date(to, "to")?.unwrap_or(today);
    let from = date(from, "from")?.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        return Err(AppError::field("from", "The range starts after it ends."));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(AppError::field(
            "from",
            format!("Choose at most {MAX_DAYS} days."),
        ));
    }
    let names: std::collections::HashMap<String, String> =
        sqlx::query!("select agent_id, name from agent where org_id = $1", org)
            .fetch_all(tenant.conn())
            .await?
            .into_iter()
            .map(|a| (a.agent_id.to_string(), a.name))
            .collect();
    tenant.commit().await?;
    let Some(ch) = stores.clickhouse.clone() else {
        // A server without ClickHouse (`serve` always has one) has recorded nothing there.
        return Ok(Analytics {
            from: from.to_string(),
            to: to.to_string(),
            days: Vec::new(),
            agents: Vec::new(),
            models: Vec::new(),
        });
    };
    // Dates are checked above and the database name is made from the org's id: nothing the
    // caller typed reaches the SQL as text.
    let query = |by: &str| {
        format!(
            "SELECT toString({by}) AS label, sum(tokens_in + tokens_out) AS tokens, \
                    sum(cost_micros) AS cost \
               FROM {db}.usage_events FINAL \
              WHERE day >= toDate('{from}') AND day <= toDate('{to}') \
              GROUP BY label ORDER BY tokens DESC FORMAT TabSeparated",
            db = database(org)
        )
    };
    let read = |text: String| -> Vec<Point> {
        text.lines()
            .filter_map(|line| {
                let mut cols = line.split('\t');
                Some(Point {
                    label: cols.next()?.to_string(),
                    tokens: cols.next()?.parse().ok()?,
                    cost_micros: cols.next()?.parse().ok()?,
                })
            })
            .collect()
    };
    let unavailable = |e: String| {
        tracing::warn!(%org, error = %e, "analytics: ClickHouse did not answer");
        AppError::Unavailable(
            "Usage analytics are unavailable for a moment (ClickHouse does not answer); billing is not affected. Try again shortly."
                .to_string(),
        )
    };
    let by_day = read(ch.query(&query("day")).await.map_err(unavailable)?);
    let mut agents = read(ch.query(&query("agent_id")).await.map_err(unavailable)?);
    let models = read(ch.query(&query("model")).await.map_err(unavailable)?);
    for a in &mut agents {
        if let Some(name) = names.get(&a.label) {
            a.label = name.clone();
        }
    }
    let days = (0..=(to - from).num_days())
        .map(|n| {
            let day = (from + Duration::days(n)).to_string();
            by_day
                .iter()
                .find(|p| p.label == day)
                .cloned()
                .unwrap_or(Point {
                    label: day,
                    tokens: 0,
                    cost_micros: 0,
                })
        })
        .collect();
    Ok(Analytics {
        from: from.to_string(),
        to: to.to_string(),
        days,
        agents,
        models,
    })
}
