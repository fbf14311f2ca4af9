//! Usage analytics per org, from its ClickHouse database: tokens and cost per day, per agent
//! and per model over a chosen range, drawn as a chart. The org detail view's Analytics tab.

#[cfg(feature = "ssr")]
mod server;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{billing::money::format_micros, AppError};

/// The longest range one view covers, in days.
pub const MAX_DAYS: i64 = 366;
/// The range a view opens with, in days ending today.
pub const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analytics {
    /// The range, inclusive (`YYYY-MM-DD`).
    pub from: String,
    pub to: String,
    /// Every day of the range, in order (days without usage hold zeros).
    pub days: Vec<Point>,
    /// By agent (its name) and by model, most tokens first.
    pub agents: Vec<Point>,
    pub models: Vec<Point>,
}

/// Tokens and cost of one day, agent or model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub label: String,
    pub tokens: i64,
    pub cost_micros: i64,
}

impl Analytics {
    pub fn tokens(&self) -> i64 {
        self.days.iter().map(|d| d.tokens).sum()
    }
    pub fn cost_micros(&self) -> i64 {
        self.days.iter().map(|d| d.cost_micros).sum()
    }
}

/// The org's usage from `from` to `to` (`YYYY-MM-DD`, inclusive; empty: the last 30 days).
#[server(endpoint = "analytics/org_analytics")]
pub async fn org_analytics(
    org_id: String,
    #[server(default)] from: String,
    #[server(default)] to: String,
) -> Result<Analytics, AppError> {
    server::org_analytics(&org_id, &from, &to).await
}

/// The org detail view's Analytics tab: the range (a plain form: works without JavaScript), the
/// chart of tokens per day, and the tables per agent and per model.
#[component]
pub fn OrgAnalyticsTab() -> impl IntoView {
    crate::orgs::detail_tab(
        |id, query| {
            org_analytics(
                id,
                query.get("from").unwrap_or_default(),
                query.get("to").unwrap_or_default(),
            )
        },
        |_, result| {
            match result {
            Ok(data) => view! { <AnalyticsView data /> }.into_any(),
            Err(err) => view! {
                <p role="alert" class="mt-4 text-sm text-red-700" data-testid="analytics-error">{err.to_string()}</p>
            }
            .into_any(),
        }
        },
    )
}

#[component]
fn AnalyticsView(data: Analytics) -> impl IntoView {
    let input = "rounded-md border border-slate-300 px-2 py-1 text-sm";
    let total = format!(
        "{} tokens · {} from {} to {}",
        crate::billing::money::group(data.tokens().max(0) as u128),
        format_micros(data.cost_micros() as i128),
        data.from,
        data.to
    );
    view! {
        <form method="get" class="mt-4 flex flex-wrap items-end gap-3" data-testid="analytics-range">
            <label class="text-sm">
                <span class="block text-slate-600">"From"</span>
                <input type="date" name="from" value=data.from.clone() class=input />
            </label>
            <label class="text-sm">
                <span class="block text-slate-600">"To"</span>
                <input type="date" name="to" value=data.to.clone() class=input />
            </label>
            <button type="submit" class=crate::ui::style::SECONDARY>"Show"</button>
        </form>
        <p class="mt-3 text-sm text-slate-700" data-testid="analytics-total">{total}</p>
        {if data.tokens() == 0 {
            view! {
                <p class="mt-6 rounded-md bg-slate-50 px-3 py-6 text-center text-sm text-slate-600" data-testid="analytics-empty">
                    "No usage in this range. Agents report usage through the agent API (POST /api/v1/usage)."
                </p>
            }
            .into_any()
        } else {
            view! {
                <Chart days=data.days.clone() />
                <div class="mt-6 grid gap-6 md:grid-cols-2">
                    <Breakdown title="By agent" rows=data.agents.clone() testid="analytics-agents" />
                    <Breakdown title="By model" rows=data.models.clone() testid="analytics-models" />
                </div>
            }
            .into_any()
        }}
    }
}

/// Tokens per day as bars (SVG, drawn on the server too), each with its day, tokens and cost
/// as its title.
#[component]
fn Chart(days: Vec<Point>) -> impl IntoView {
    let (width, height) = (720.0_f64, 200.0_f64);
    let most = days.iter().map(|d| d.tokens).max().unwrap_or(0).max(1) as f64;
    let step = width / days.len().max(1) as f64;
    let bar = (step * 0.7).max(1.0);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = (d.tokens as f64 / most * (height - 20.0)).max(if d.tokens > 0 {
                1.0
            } else {
                0.0
            });
            let title = format!(
                "{}: {} tokens, {}",
                d.label,
                crate::billing::money::group(d.tokens.max(0) as u128),
                format_micros(d.cost_micros as i128)
            );
            view! {
                <rect
                    x=format!("{:.1}", i as f64 * step + (step - bar) / 2.0)
                    y=format!("{:.1}", height - h)
                    width=format!("{bar:.1}")
                    height=format!("{h:.1}")
                    class="fill-indigo-500"
                    data-testid="analytics-bar"
                    data-day=d.label.clone()
                    data-tokens=d.tokens.to_string()
                >
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    let first = days.first().map(|d| d.label.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.label.clone()).unwrap_or_default();
    view! {
        <figure class="mt-6" data-testid="analytics-chart">
            <svg
                viewBox=format!("0 0 {width} {height}")
                class="h-52 w-full rounded-md bg-slate-50"
                role="img"
                aria-label="Tokens per day"
                preserveAspectRatio="none"
            >
                {bars}
            </svg>
            <figcaption class="mt-1 flex justify-between text-xs text-slate-500">
                <span>{first}</span>
                <span>"Tokens per day"</span>
                <span>{last}</span>
            </figcaption>
        </figure>
    }
}

#[component]
fn Breakdown(title: &'static str, rows: Vec<Point>, testid: &'static str) -> impl IntoView {
    view! {
        <section data-testid=testid>
            <h3 class="text-sm font-semibold text-slate-900">{title}</h3>
            <table class="mt-2 w-full text-left text-sm">
                <thead class="text-xs uppercase text-slate-500">
                    <tr>
                        <th scope="col" class="py-1 pr-4 font-medium">"Name"</th>
                        <th scope="col" class="py-1 pr-4 text-right font-medium">"Tokens"</th>
                        <th scope="col" class="py-1 text-right font-medium">"Cost"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td class="py-1 pr-4">{r.label}</td>
                            <td class="py-1 pr-4 text-right tabular-nums">{crate::billing::money::group(r.tokens.max(0) as u128)}</td>
                            <td class="py-1 text-right tabular-nums">{format_micros(r.cost_micros as i128)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
