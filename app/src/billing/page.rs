//! The Billing & Costs tab of the org detail view, and the platform Billing page.

use leptos::prelude::*;
use leptos_router::{
    components::{Form, A},
    hooks::use_query_map,
};

use super::{
    billing_overview,
    money::{
        csv_field, format_cents, format_margin, format_micros, format_price, group,
        margin_basis_points,
    },
    resource_label, Allowance, BillingTab, DeleteModelPrice, DeletePlan, MonthPoint,
    SaveModelPrice, SavePlan, SetAgentRate, SetDefaultRate, RANKING_PAGE,
};
use crate::{
    auth::{submission_error, SessionInfo},
    orgs::refetch_detail_after,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Pager, Toast,
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

#[component]
pub fn BillingTabView(org_id: String, tab: Result<BillingTab, AppError>) -> impl IntoView {
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
            <Allowances allowances=tab.allowances.clone() plan=tab.plan_name.clone() />
            {(!tab.alerts.is_empty()).then(|| view! {
                <div class="mt-4">
                    <h3 class="text-sm font-semibold">"Allowance alerts"</h3>
                    <ul class="mt-2 space-y-1 text-sm" data-testid="quota-alerts">
                        {tab.alerts.iter().map(|a| view! {
                            <li class="rounded-md bg-amber-50 px-3 py-1.5 text-amber-800">
                                {format!("{} % of {} reached: {} of {} ({})", a.threshold,
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
                <span><span class="mr-1 inline-block h-0.5 w-3 bg-emerald-600 align-middle"></span>"Margin (0–100 %)"</span>
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

fn format_bytes(bytes: i64) -> String {
    const MB: i64 = 1024 * 1024;
    if bytes >= MB {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

/// The org's allowances: a bar each, amber from 80 %, red from 100 %.
#[component]
pub fn Allowances(allowances: Vec<Allowance>, plan: String) -> impl IntoView {
    view! {
        <div class="mt-6">
            <h3 class="text-sm font-semibold">
                {if plan.is_empty() { "Allowances (no plan: no limits)".to_string() } else { format!("Allowances of plan {plan}") }}
            </h3>
            <ul class="mt-2 grid grid-cols-2 gap-3 text-sm" data-testid="allowances">
                {allowances.into_iter().map(|a| {
                    let pct = a.percent();
                    let show = |v: i64| if a.resource == "storage" { format_bytes(v) } else { group(v.max(0) as u128) };
                    let text = match a.quota {
                        Some(q) => format!("{} of {}", show(a.used), show(q)),
                        None => format!("{} · no limit", show(a.used)),
                    };
                    let colour = match pct {
                        Some(p) if p >= 100 => "bg-red-500",
                        Some(p) if p >= 80 => "bg-amber-500",
                        _ => "bg-emerald-500",
                    };
                    view! {
                        <li class="rounded-lg border border-slate-200 p-3" data-testid="allowance" data-resource=a.resource.clone()>
                            <div class="flex justify-between"><span>{a.label()}</span><span class="tabular-nums text-slate-600">{text}</span></div>
                            <div class="mt-2 h-1.5 rounded bg-slate-100" role="progressbar" aria-label=a.label()
                                 aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.unwrap_or(0).min(100).to_string()>
                                <div class=format!("h-1.5 rounded {colour}") style=format!("width: {}%", pct.unwrap_or(0).min(100))></div>
                            </div>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

/// `/billing`: for superadmins, orgs ranked by this month's margin and the model prices; for
/// everyone else, the way to their org's Billing & Costs tab.
#[component]
pub fn BillingPage() -> impl IntoView {
    let session = use_context::<SessionInfo>();
    let superadmin = session.as_ref().is_some_and(|s| s.superadmin);
    if !superadmin {
        let org = session.and_then(|s| s.active_org);
        return view! {
            <section class="p-6">
                <h1 class="text-xl font-semibold">"Billing"</h1>
                {match org {
                    Some(org) => view! {
                        <p class="mt-3 text-sm text-slate-700">
                            "Revenue, costs and margins are in each organization's Billing & Costs tab. "
                            <A href=format!("/organizations/{}?tab=billing", org.id) attr:class=format!("font-medium text-indigo-600 {FOCUS_RING}")>{format!("Open {}'s", org.name)}</A>
                        </p>
                    }.into_any(),
                    None => view! { <p class="mt-3 text-sm text-slate-700">"Switch to an organization to see its billing."</p> }.into_any(),
                }}
            </section>
        }
        .into_any();
    }
    let save = ServerAction::<SaveModelPrice>::new();
    let delete = ServerAction::<DeleteModelPrice>::new();
    let plan = ServerAction::<SavePlan>::new();
    let delete_plan = ServerAction::<DeletePlan>::new();
    let error = submission_error(save);
    let delete_plan_error = submission_error(delete_plan);
    let delete_error = submission_error(delete);
    let plan_error = submission_error(plan);
    let query = use_query_map();
    let ranking_page = move || {
        query.with(|q| {
            q.get("page")
                .and_then(|p| p.parse::<i64>().ok())
                .unwrap_or(1)
        })
    };
    let data = Resource::new(
        move || {
            (
                ranking_page(),
                save.version().get(),
                delete.version().get(),
                plan.version().get() + delete_plan.version().get(),
            )
        },
        |(page, _, _, _)| billing_overview(Some(page)),
    );
    // Read as the address changes: a save with JavaScript lands here by client-side navigation.
    let notice = move || {
        query.with(|q| {
            q.get("saved").map(|k| match k.as_str() {
                "price-deleted" => "Price deleted.",
                "plan" => "Plan saved.",
                "plan-deleted" => "Plan deleted.",
                _ => "Price saved.",
            })
        })
    };
    view! {
        <section class="p-6" data-testid="billing-page">
            {move || notice().map(|text| view! { <Toast text /> })}
            <h1 class="text-xl font-semibold">"Billing"</h1>
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || data.get().map(|result| match result {
                    Err(err) => view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                    Ok(o) => {
                        let (prices, plans) = (o.prices.clone(), o.plans.clone());
                        let shown = o.orgs.len() as i64;
                        view! {
                        <h2 class="mt-6 text-sm font-semibold">{format!("Organizations by margin, {}", o.month)}</h2>
                        {if o.orgs.is_empty() {
                            view! { <p class="mt-2 text-sm text-slate-600">"No organizations yet."</p> }.into_any()
                        } else {
                            view! {
                                <table class="mt-2 min-w-full rounded-lg border border-slate-200 text-sm" data-testid="margin-ranking">
                                    <thead class="bg-slate-50 text-left text-xs uppercase text-slate-500">
                                        <tr>
                                            <th scope="col" class="px-3 py-2 text-right">"Rank"</th>
                                            <th scope="col" class="px-3 py-2">"Organization"</th>
                                            <th scope="col" class="px-3 py-2 text-right">"Agents"</th>
                                            <th scope="col" class="px-3 py-2 text-right">"Revenue"</th>
                                            <th scope="col" class="px-3 py-2 text-right">"Cost"</th>
                                            <th scope="col" class="px-3 py-2 text-right">"Margin"</th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {o.orgs.into_iter().zip(o.first_rank..).map(|(r, rank)| view! {
                                            <tr data-testid="ranking-row">
                                                <td class="px-3 py-2 text-right tabular-nums text-slate-500">{rank}</td>
                                                <td class="px-3 py-2"><A href=format!("/organizations/{}?tab=billing", r.org_id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}")>{format!("ORG{} · {}", r.number, r.name)}</A></td>
                                                <td class="px-3 py-2 text-right tabular-nums">{r.agents}</td>
                                                <td class="px-3 py-2 text-right tabular-nums">{format_cents(r.revenue_cents)}</td>
                                                <td class="px-3 py-2 text-right tabular-nums">{format_micros(r.cost_micros)}</td>
                                                <td class="px-3 py-2 text-right tabular-nums">{format_margin(margin_basis_points(r.revenue_cents, r.cost_micros))}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                {(o.ranked > RANKING_PAGE).then(|| {
                                    let pages = (o.ranked + RANKING_PAGE - 1) / RANKING_PAGE;
                                    let last = o.first_rank + shown - 1;
                                    view! {
                                        <Pager
                                            info=format!("Ranks {}–{last} of {} · page {} of {pages}", o.first_rank, o.ranked, o.page)
                                            testid="ranking-page-info"
                                            page=o.page
                                            pages
                                            href=|p: i64| format!("/billing?page={p}")
                                        />
                                    }
                                })}
                            }.into_any()
                        }}
                        <h2 class="mt-8 text-sm font-semibold">"Model prices (per million tokens)"</h2>
                        <div class="mt-2">{form_alert(delete_error)}</div>
                        {if o.prices.is_empty() {
                            view! { <p class="mt-2 text-sm text-slate-600" data-testid="prices-empty">"No model prices yet: usage is refused for a model until it has one."</p> }.into_any()
                        } else {
                            view! {
                                <table class="mt-2 min-w-full text-sm" data-testid="model-prices">
                                    <thead class="text-left text-xs uppercase text-slate-500">
                                        <tr><th class="py-1">"Model"</th><th>"From"</th><th class="text-right">"Input"</th><th class="text-right">"Output"</th><th></th></tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        // Keyed, so after a delete no other row inherits an opened confirmation.
                                        <For
                                            each=move || prices.clone()
                                            key=|p| (p.model.clone(), p.effective_from)
                                            children=move |p| view! {
                                            <tr data-testid="model-price">
                                                <td class="py-1 font-mono">{p.model.clone()}</td>
                                                <td>{p.effective_from.to_string()}</td>
                                                <td class="text-right tabular-nums">{format_price(p.input_micros)}</td>
                                                <td class="text-right tabular-nums">{format_price(p.output_micros)}</td>
                                                <td class="text-right">
                                                    <details class="inline-block text-left">
                                                        <summary aria-label=format!("Delete the {} price from {}…", p.model, p.effective_from) class=format!("cursor-pointer text-xs text-slate-500 hover:text-red-600 {FOCUS_RING}")>"Delete…"</summary>
                                                        <ActionForm action=delete attr:class="mt-1 flex items-center justify-end gap-2">
                                                            <input type="hidden" name="model" value=p.model.clone() />
                                                            <input type="hidden" name="effective_from" value=p.effective_from.to_string() />
                                                            <span class="text-xs text-slate-600">"Only a price no usage was priced at can go."</span>
                                                            <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete the {} price from {}", p.model, p.effective_from)}</button>
                                                        </ActionForm>
                                                    </details>
                                                </td>
                                            </tr>
                                        } />
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        <h2 class="mt-8 text-sm font-semibold">"Plans"</h2>
                        <div class="mt-2">{form_alert(delete_plan_error)}</div>
                        <ul class="mt-2 divide-y divide-slate-100 text-sm text-slate-700" data-testid="plans">
                            <For each=move || plans.clone() key=|p| p.plan_name.clone() children=move |p| {
                                let lim = |v: Option<i64>| v.map(|v| group(v as u128)).unwrap_or_else(|| "no limit".into());
                                let mb = |v: Option<i64>| v.map(|v| format!("{} MB", group((v / 1_048_576) as u128))).unwrap_or_else(|| "no limit".into());
                                view! {
                                    <li class="flex items-start justify-between gap-3 py-1" data-testid="plan">
                                        <span>{format!("{}: {} agents · {} seats · {} of knowledge · {} tokens a month", p.plan_name, lim(p.max_agents), lim(p.max_seats), mb(p.max_storage_bytes), lim(p.max_tokens_per_month))}</span>
                                        <details class="shrink-0 text-right">
                                            <summary aria-label=format!("Delete the {} plan…", p.plan_name) class=format!("cursor-pointer text-xs text-slate-500 hover:text-red-600 {FOCUS_RING}")>"Delete…"</summary>
                                            <ActionForm action=delete_plan attr:class="mt-1 flex items-center justify-end gap-2">
                                                <input type="hidden" name="plan_name" value=p.plan_name.clone() />
                                                <span class="text-xs text-slate-600">"Only a plan no organization is on can go."</span>
                                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete the {} plan", p.plan_name)}</button>
                                            </ActionForm>
                                        </details>
                                    </li>
                                }
                            } />
                        </ul>
                    }.into_any()
                    }
                })}
            </Suspense>
            <ActionForm action=plan attr:class="mt-6 max-w-2xl rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                <h3 class="text-sm font-semibold">"Add or change a plan"</h3>
                <p class="mt-1 text-xs text-slate-500">"An org's plan is its subscription's plan name. Leave a limit empty for none."</p>
                <div class="mt-2">{form_alert(plan_error)}</div>
                <div class="mt-2 grid grid-cols-2 gap-4">
                    <div>
                        <label for="plan-name" class="block text-sm font-medium">"Plan name"</label>
                        <input id="plan-name" name="plan_name" placeholder="pro_monthly" class=INPUT aria-invalid=invalid(plan_error, "plan_name") />
                        <FieldError error=plan_error field="plan_name" />
                    </div>
                    <div>
                        <label for="plan-agents" class="block text-sm font-medium">"Agents"</label>
                        <input id="plan-agents" name="max_agents" inputmode="numeric" class=INPUT aria-invalid=invalid(plan_error, "max_agents") />
                        <FieldError error=plan_error field="max_agents" />
                    </div>
                    <div>
                        <label for="plan-seats" class="block text-sm font-medium">"Seats"</label>
                        <input id="plan-seats" name="max_seats" inputmode="numeric" class=INPUT aria-invalid=invalid(plan_error, "max_seats") />
                        <FieldError error=plan_error field="max_seats" />
                    </div>
                    <div>
                        <label for="plan-storage" class="block text-sm font-medium">"Knowledge storage, MB"</label>
                        <input id="plan-storage" name="max_storage_mb" inputmode="numeric" class=INPUT aria-invalid=invalid(plan_error, "max_storage_mb") />
                        <FieldError error=plan_error field="max_storage_mb" />
                    </div>
                    <div>
                        <label for="plan-tokens" class="block text-sm font-medium">"AI tokens a month"</label>
                        <input id="plan-tokens" name="max_tokens_per_month" inputmode="numeric" class=INPUT aria-invalid=invalid(plan_error, "max_tokens_per_month") />
                        <FieldError error=plan_error field="max_tokens_per_month" />
                    </div>
                </div>
                <div class="mt-4 flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || plan.pending().get()>"Save plan"</button>
                </div>
            </ActionForm>
            <ActionForm action=save attr:class="mt-6 max-w-2xl rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                <h3 class="text-sm font-semibold">"Set a model price"</h3>
                <p class="mt-1 text-xs text-slate-500">"A new price applies from its date on; usage before it keeps the price then in force."</p>
                <div class="mt-2">{form_alert(error)}</div>
                <div class="mt-2 grid grid-cols-2 gap-4">
                    <div>
                        <label for="price-model" class="block text-sm font-medium">"Model"</label>
                        <input id="price-model" name="model" placeholder="gpt-4o-mini" autocomplete="off" class=INPUT aria-invalid=invalid(error, "model") />
                        <FieldError error field="model" />
                    </div>
                    <div>
                        <label for="price-from" class="block text-sm font-medium">"Effective from"</label>
                        <input id="price-from" name="effective_from" type="date" class=INPUT aria-invalid=invalid(error, "effective_from") />
                        <FieldError error field="effective_from" />
                    </div>
                    <div>
                        <label for="price-input" class="block text-sm font-medium">"Input, USD per 1M tokens"</label>
                        <input id="price-input" name="input_price" inputmode="decimal" placeholder="0.15" class=INPUT aria-invalid=invalid(error, "input_price") />
                        <FieldError error field="input_price" />
                    </div>
                    <div>
                        <label for="price-output" class="block text-sm font-medium">"Output, USD per 1M tokens"</label>
                        <input id="price-output" name="output_price" inputmode="decimal" placeholder="0.60" class=INPUT aria-invalid=invalid(error, "output_price") />
                        <FieldError error field="output_price" />
                    </div>
                </div>
                <div class="mt-4 flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save price"</button>
                </div>
            </ActionForm>
        </section>
    }
    .into_any()
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
            "2026-11,\"Sales, Bot\",a1,50.00,1500,0,0.000225,100.00 %"
        );
        assert_eq!(
            lines[2],
            "2026-11,Ops,a2,0.00,1000000000000,1000000000000,90000000.000000,—"
        );
        assert_eq!(
            lines[3],
            "2026-11,Total,,50.00,1000000001500,1000000000000,90000000.000225,−179999900.00 %"
        );
    }
}
