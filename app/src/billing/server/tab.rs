//! The org's Billing & Costs tab and its health (allowances against the plan), read in the
//! org's tenant scope under the tab's own need.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::super::{money::revenue_cents, AgentLine, AlertRow, Allowance, BillingTab, MonthPoint};
use crate::{
    tenancy::gate::{Gate, Tenant},
    AppError,
};

use super::*;

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

    let Health {
        allowances,
        plan: plan_name,
        ..
    } = health(&mut tenant).await?;
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

/// An org's health signals and its origin, read in one statement for the Overview tab: its
/// allowances and plan ("allowance pressure"), its members' sign-ins ("active users"), and
/// when and by whom it was created.
pub(crate) struct Health {
    pub allowances: Vec<Allowance>,
    pub plan: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The creator's name, where the caller may see them (a member of the org, or themselves).
    pub creator: Option<String>,
    /// Whether a creator is on record at all (an account deleted since is not).
    pub creator_recorded: bool,
    /// Members who signed in within the last 30 days.
    pub recently_signed_in: i64,
    pub last_sign_in: Option<chrono::DateTime<chrono::Utc>>,
}

/// The org's allowances and their use, its plan, its members' recent sign-ins and its origin,
/// in one statement (the Overview tab's; the Billing tab uses the first two).
pub(crate) async fn health(tenant: &mut Tenant) -> Result<Health, AppError> {
    let org = tenant.org_id;
    let row = sqlx::query!(
        r#"select coalesce((select plan_name from subscription where org_id = $1), '') as "plan!",
                  coalesce((select jsonb_agg(jsonb_build_object(
                                     'resource', a.resource, 'used', a.used, 'quota', a.quota))
                              from org_allowances($1) a), '[]') as "allowances!",
                  o.created_at, o.created_by is not null as "creator_recorded!",
                  (select u.name from app_user u where u.user_id = o.created_by) as "creator?",
                  s.recent as "recent!", s.last as "last?"
             from organization o
             cross join lateral (
               select count(*) filter (where u.last_login_at >= now() - interval '30 days')
                        as recent,
                      max(u.last_login_at) as last
                 from membership m join app_user u on u.user_id = m.user_id
                where m.org_id = o.org_id) s
            where o.org_id = $1"#,
        org
    )
    .fetch_optional(tenant.conn())
    .await?
    .ok_or_else(|| AppError::NotFound("Organization".to_string()))?;
    let allowances = serde_json::from_value(row.allowances)
        .map_err(|e| AppError::internal("reading an org's allowances", e))?;
    Ok(Health {
        allowances,
        plan: row.plan,
        created_at: row.created_at,
        creator: row.creator,
        creator_recorded: row.creator_recorded,
        recently_signed_in: row.recent,
        last_sign_in: row.last,
    })
}
