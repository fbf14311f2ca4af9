//! The platform Billing page (`/billing`, superadmins): revenue, cost and margin across orgs,
//! and plans. Model prices are in Settings → Models (`models.rs`).

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_query_map};

use super::super::{
    billing_overview,
    money::{format_cents, format_margin, format_micros, group, margin_basis_points},
    DeletePlan, SavePlan, RANKING_PAGE,
};
use crate::{
    auth::{submission_error, SessionInfo},
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY},
        FieldError, Pager, Toast,
    },
};

/// `/billing`: for superadmins, orgs ranked by this month's margin and the plans; for
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
                            <A href=format!("/organizations/{}/billing", org.id) attr:class=format!("font-medium text-indigo-600 {FOCUS_RING}")>{format!("Open {}'s", org.name)}</A>
                        </p>
                    }.into_any(),
                    None => view! { <p class="mt-3 text-sm text-slate-700">"Switch to an organization to see its billing."</p> }.into_any(),
                }}
            </section>
        }
        .into_any();
    }
    let plan = ServerAction::<SavePlan>::new();
    let delete_plan = ServerAction::<DeletePlan>::new();
    let delete_plan_error = submission_error(delete_plan);
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
                plan.version().get() + delete_plan.version().get(),
            )
        },
        |(page, _)| billing_overview(Some(page)),
    );
    // Read as the address changes: a save with JavaScript lands here by client-side navigation.
    let notice = move || {
        query.with(|q| {
            q.get("saved").map(|k| match k.as_str() {
                "plan-deleted" => "Plan deleted.",
                _ => "Plan saved.",
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
                        let plans = o.plans.clone();
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
                                                <td class="px-3 py-2"><A href=format!("/organizations/{}/billing", r.org_id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}")>{format!("ORG{} · {}", r.number, r.name)}</A></td>
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
                        <p class="mt-8 text-sm text-slate-600" data-testid="prices-moved">
                            "Token costs are priced with the model prices in "
                            <A href="/settings" attr:class=format!("font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>"Settings → Models"</A>
                            "."
                        </p>
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
        </section>
    }
    .into_any()
}
