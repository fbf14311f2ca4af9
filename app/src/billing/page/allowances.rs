//! An org's allowances under its plan, as bars (the org overview and the Billing & Costs tab).

use leptos::prelude::*;

use super::super::{money::group, Allowance};

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
