//! The Billing & Costs tab of the org detail view (`/organizations/:id/billing?month=`): the
//! month's revenue, cost and margin per agent, twelve months of history, and the CSV export.

use leptos::prelude::*;
use leptos_router::{components::Form, hooks::use_query_map};

use super::super::{
    money::{csv_field, format_cents, format_margin, format_micros, group, margin_basis_points},
    resource_label, BillingTab, MonthPoint, SetAgentRate, SetDefaultRate,
};
use crate::{
    auth::submission_error,
    orgs::refetch_detail_after,
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Toast,
    },
    AppError,
};

fn dollars_plain(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// Micro-dollars as an exact decimal number of dollars ("0.000225").
fn micros_plain(micros: i128) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// The month's lines as CSV, exact amounts in dollars.
pub fn csv(tab: &BillingTab) -> String {
    let mut out =
        String::from("month,agent,agent_id,rate_usd,input_tokens,output_tokens,cost_usd,margin\n");
    for l in &tab.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            tab.month,
            csv_field(&l.name),
            l.agent_id,
            dollars_plain(l.rate_cents),
            l.input_tokens,
            l.output_tokens,
            micros_plain(l.cost_micros),
            csv_field(&format_margin(margin_basis_points(
                l.rate_cents,
                l.cost_micros
            ))),
        ));
    }
    out.push_str(&format!(
        "{},Total,,{},{},{},{},{}\n",
        tab.month,
        dollars_plain(tab.revenue_cents()),
        tab.lines.iter().map(|l| l.input_tokens).sum::<u128>(),
        tab.lines.iter().map(|l| l.output_tokens).sum::<u128>(),
        micros_plain(tab.cost_micros()),
        csv_field(&format_margin(margin_basis_points(
            tab.revenue_cents(),
            tab.cost_micros()
        ))),
    ));
    out
}

fn data_url(csv: &str) -> String {
    let mut out = String::from("data:text/csv;charset=utf-8,");
    for b in csv.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Billing & Costs tab of the org detail view (`/organizations/:id/billing?month=`).
#[component]
pub fn OrgBillingTab() -> impl IntoView {
    crate::orgs::detail_tab(
        |id, query| crate::billing::org_billing(id, query.get("month").unwrap_or_default()),
        |org_id, tab| view! { <BillingTabView org_id tab /> },
    )
}

#[component]
fn BillingTabView(org_id: String, tab: Result<BillingTab, AppError>) -> impl IntoView {
    let default_rate = ServerAction::<SetDefaultRate>::new();
    let agent_rate = ServerAction::<SetAgentRate>::new();
    refetch_detail_after(default_rate);
    refetch_detail_after(agent_rate);
    let rate_error = submission_error(default_rate);
    let agent_error = submission_error(agent_rate);
    let notice = use_query_map()
        .with_untracked(|q| q.get("saved"))
        .map(|_| "Rates saved. This month's revenue uses them now; closed months keep theirs.");
    let tab = match tab {
        Ok(tab) => tab,
        Err(err) => {
            return view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }
                .into_any()
        }
    };
    let revenue = tab.revenue_cents();
    let cost = tab.cost_micros();
    let margin = margin_basis_points(revenue, cost);
    let csv_href = data_url(&csv(&tab));
    let csv_name = format!("billing-{}.csv", tab.month);
    let months = tab.months.clone();
    let selected = tab.month.clone();
    let live = tab.live;
    // Rates are entitlements: the platform sets them; the org reads them.
    let editable = live && use_context::<crate::auth::SessionInfo>().is_some_and(|s| s.superadmin);
    view! {
        <div data-testid="billing-tab">
            {notice.map(|text| view! { <Toast text /> })}
            <div class="mt-4 flex flex-wrap items-end justify-between gap-3">
                <Form method="GET" action="" attr:class="flex items-end gap-2">
                    <input type="hidden" name="tab" value="billing" />
                    <div>
                        <label for="billing-month" class="block text-sm font-medium">"Month"</label>
                        <select id="billing-month" name="month" class=INPUT>
                            {months.into_iter().map(|m| {
                                let is = m == selected;
                                let label = m.clone();
                                view! { <option value=m selected=is>{label}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Show"</button>
                </Form>
                <div class="flex items-center gap-3 text-sm">
                    <span class="text-slate-500" data-testid="billing-state">
                        {if live { "Live: this month so far, at today's rates." } else { "Closed: frozen billing records." }}
                    </span>
                    <a href=csv_href download=csv_name class=format!("{SECONDARY} {FOCUS_RING}") data-testid="billing-csv">"Export CSV"</a>
                </div>
            </div>
            <dl class="mt-4 grid grid-cols-3 gap-3">
                <Stat label="Revenue" value=format_cents(revenue) testid="billing-revenue" />
                <Stat label="Cost" value=format_micros(cost) testid="billing-cost" />
                <Stat label="Margin" value=format_margin(margin) testid="billing-margin" />
            </dl>
            <Chart points=tab.history.clone() />
            {if tab.lines.is_empty() {
                view! {
                    <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="billing-empty">
                        "No agents serve this organization and no usage was reported this month. Assign agents in the Agents tab."
                    </p>
                }.into_any()
            } else {
                let org_id = org_id.clone();
                let default_rate_cents = tab.default_rate_cents;
                let lines = tab.lines.clone();
                view! {
                    <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200">
                        <table class="min-w-full text-sm" data-testid="billing-agents">
                            <thead class="bg-slate-50 text-left text-xs uppercase text-slate-500">
                                <tr>
                                    <th scope="col" class="px-3 py-2">"Agent"</th>
                                    <th scope="col" class="px-3 py-2">"Rate / month"</th>
                                    <th scope="col" class="px-3 py-2 text-right">"Input tokens"</th>
                                    <th scope="col" class="px-3 py-2 text-right">"Output tokens"</th>
                                    <th scope="col" class="px-3 py-2 text-right">"Cost"</th>
                                    <th scope="col" class="px-3 py-2 text-right">"Margin"</th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {lines.into_iter().map(|l| {
                                    let org_id = org_id.clone();
                                    let name = l.name.clone();
                                    view! {
                                        <tr data-testid="billing-line" data-agent=l.name.clone()>
                                            <td class="px-3 py-2 font-medium">{l.name.clone()}</td>
                                            <td class="px-3 py-2">
                                                {if editable {
                                                    view! {
                                                        <ActionForm action=agent_rate attr:class="flex items-center gap-2">
                                                            <input type="hidden" name="org_id" value=org_id />
                                                            <input type="hidden" name="agent_id" value=l.agent_id.clone() />
                                                            <label class="sr-only" for=format!("rate-{}", l.agent_id)>{format!("Rate for {name}")}</label>
                                                            <input id=format!("rate-{}", l.agent_id) name="rate" inputmode="decimal"
                                                                value=if l.overridden { dollars_plain(l.rate_cents) } else { String::new() }
                                                                placeholder=format!("{} (default)", dollars_plain(default_rate_cents))
                                                                class="w-32 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                                                            <button type="submit" class=format!("text-xs font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>"Set"</button>
                                                        </ActionForm>
                                                    }.into_any()
                                                } else {
                                                    view! { <span>{format_cents(l.rate_cents)}</span> }.into_any()
                                                }}
                                            </td>
                                            <td class="px-3 py-2 text-right tabular-nums">{group(l.input_tokens)}</td>
                                            <td class="px-3 py-2 text-right tabular-nums">{group(l.output_tokens)}</td>
                                            <td class="px-3 py-2 text-right tabular-nums" data-testid="line-cost">{format_micros(l.cost_micros)}</td>
                                            <td class="px-3 py-2 text-right tabular-nums">{format_margin(margin_basis_points(l.rate_cents, l.cost_micros))}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <div class="mt-2">{form_alert(agent_error)}</div>
                    <FieldError error=agent_error field="rate" />
                }.into_any()
            }}
            {(live && !editable).then(|| view! {
                <p class="mt-4 text-sm text-slate-600" data-testid="rates-readonly">
                    {format!("Default rate per agent per month: {}. Rates and plans are set by the platform.",
                        format_cents(tab.default_rate_cents))}
                </p>
            })}
            {editable.then(|| view! {
                <ActionForm action=default_rate attr:class="mt-4 flex items-end gap-3 rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                    <input type="hidden" name="org_id" value=org_id.clone() />
                    <div class="flex-1">
                        <label for="default-rate" class="block text-sm font-medium">"Default rate per agent per month (USD)"</label>
                        <input id="default-rate" name="rate" inputmode="decimal" value=dollars_plain(tab.default_rate_cents) class=INPUT aria-invalid=invalid(rate_error, "rate") />
                        <FieldError error=rate_error field="rate" />
                        <div class="mt-1">{form_alert(rate_error)}</div>
                    </div>
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || default_rate.pending().get()>"Save rate"</button>
                </ActionForm>
            })}
            <super::Allowances allowances=tab.allowances.clone() plan=tab.plan_name.clone() />
            {(!tab.alerts.is_empty()).then(|| view! {
                <div class="mt-4">
                    <h3 class="text-sm font-semibold">"Allowance alerts"</h3>
                    <ul class="mt-2 space-y-1 text-sm" data-testid="quota-alerts">
                        {tab.alerts.iter().map(|a| view! {
                            <li class="rounded-md bg-amber-50 px-3 py-1.5 text-amber-800">
                                {format!("{}% of {} reached: {} of {} ({})", a.threshold,
                                    resource_label(&a.resource).to_lowercase(),
                                    group(a.used as u128), group(a.quota as u128), a.fired_at.format("%Y-%m-%d %H:%M UTC"))}
                            </li>
                        }).collect_view()}
                    </ul>
                </div>
            })}
        </div>
    }
    .into_any()
}

#[component]
fn Stat(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-slate-200 p-3">
            <dt class="text-xs uppercase tracking-wide text-slate-500">{label}</dt>
            <dd class="mt-1 text-xl font-semibold tabular-nums" data-testid=testid>{value}</dd>
        </div>
    }
}

/// Revenue and cost per month as bars, the margin as a line (0–100 %, clamped), in SVG.
#[component]
fn Chart(points: Vec<MonthPoint>) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const PAD_L: f64 = 56.0;
    const PAD_B: f64 = 28.0;
    const PAD_T: f64 = 12.0;
    let plot_h = H - PAD_B - PAD_T;
    let max = points
        .iter()
        .flat_map(|p| [p.revenue_cents as i128 * 10_000, p.cost_micros])
        .max()
        .unwrap_or(0)
        .max(1);
    let step = (W - PAD_L) / points.len().max(1) as f64;
    let y = |micros: i128| PAD_T + plot_h - (micros.max(0) as f64 / max as f64) * plot_h;
    let margin_points: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            margin_basis_points(p.revenue_cents, p.cost_micros).map(|bp| {
                let pct = (bp as f64 / 10_000.0).clamp(0.0, 1.0);
                format!(
                    "{:.1},{:.1}",
                    PAD_L + step * (i as f64 + 0.5),
                    PAD_T + plot_h - pct * plot_h
                )
            })
        })
        .collect();
    view! {
        <figure class="mt-4 rounded-lg border border-slate-200 p-3">
            <figcaption class="flex gap-4 text-xs text-slate-600">
                <span><span class="mr-1 inline-block h-2 w-3 bg-indigo-500"></span>"Revenue"</span>
                <span><span class="mr-1 inline-block h-2 w-3 bg-amber-500"></span>"Cost"</span>
                <span><span class="mr-1 inline-block h-0.5 w-3 bg-emerald-600 align-middle"></span>"Margin (0–100%)"</span>
            </figcaption>
            <svg viewBox=format!("0 0 {W} {H}") class="mt-2 w-full" role="img" aria-label="Revenue, cost and margin over the last twelve months" data-testid="billing-chart">
                <line x1=PAD_L y1=PAD_T + plot_h x2=W y2=PAD_T + plot_h stroke="#cbd5e1" />
                <text x=PAD_L - 6.0 y=PAD_T + 4.0 text-anchor="end" font-size="10" fill="#64748b">{format_micros(max)}</text>
                <text x=PAD_L - 6.0 y=PAD_T + plot_h text-anchor="end" font-size="10" fill="#64748b">"$0"</text>
                {points.iter().enumerate().map(|(i, p)| {
                    let x = PAD_L + step * i as f64;
                    let bar = (step - 8.0) / 2.0;
                    let revenue = p.revenue_cents as i128 * 10_000;
                    let label = p.month[2..].to_string();
                    view! {
                        <g data-testid="chart-month" data-month=p.month.clone()
                           data-revenue-cents=p.revenue_cents.to_string() data-cost-micros=p.cost_micros.to_string()>
                            <title>{format!("{}: revenue {}, cost {}, margin {}", p.month, format_cents(p.revenue_cents), format_micros(p.cost_micros), format_margin(margin_basis_points(p.revenue_cents, p.cost_micros)))}</title>
                            <rect x=x + 4.0 y=y(revenue) width=bar height=PAD_T + plot_h - y(revenue) fill="#6366f1" />
                            <rect x=x + 4.0 + bar y=y(p.cost_micros) width=bar height=PAD_T + plot_h - y(p.cost_micros) fill="#f59e0b" />
                            <text x=x + step / 2.0 y=H - 10.0 text-anchor="middle" font-size="10" fill="#64748b">{label}</text>
                        </g>
                    }
                }).collect_view()}
                <polyline points=margin_points.join(" ") fill="none" stroke="#059669" stroke-width="2" data-testid="chart-margin" />
            </svg>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::AgentLine;

    #[test]
    fn csv_has_exact_amounts_and_a_total() {
        let tab = BillingTab {
            month: "2026-11".into(),
            months: vec![],
            live: true,
            default_rate_cents: 5_000,
            lines: vec![
                AgentLine {
                    agent_id: "a1".into(),
                    name: "Sales, Bot".into(),
                    rate_cents: 5_000,
                    overridden: false,
                    input_tokens: 1_500,
                    output_tokens: 0,
                    cost_micros: 225,
                },
                AgentLine {
                    agent_id: "a2".into(),
                    name: "Ops".into(),
                    rate_cents: 0,
                    overridden: true,
                    input_tokens: 1_000_000_000_000,
                    output_tokens: 1_000_000_000_000,
                    cost_micros: 90_000_000_000_000,
                },
            ],
            history: vec![],
            allowances: vec![],
            alerts: vec![],
            plan_name: String::new(),
        };
        let text = csv(&tab);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "2026-11,\"Sales, Bot\",a1,50.00,1500,0,0.000225,100.00%"
        );
        assert_eq!(
            lines[2],
            "2026-11,Ops,a2,0.00,1000000000000,1000000000000,90000000.000000,—"
        );
        assert_eq!(
            lines[3],
            "2026-11,Total,,50.00,1000000001500,1000000000000,90000000.000225,-179999900.00%"
        );
    }
}
