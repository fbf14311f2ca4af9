//! The Guardrails page (`/guardrails`, in the org the header's switcher names): the policies in
//! the order they run, an editor (`/guardrails/new`, `/guardrails/:id`) that checks parameters
//! for the kind chosen, and the interventions log with filters.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Outlet, A},
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{
    list_interventions, list_policies, DeletePolicy, InterventionRow, PolicyRow, SavePolicy, KINDS,
};
use crate::{
    auth::submission_error,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Modal, Toast,
    },
};

fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, label)| *label)
        .unwrap_or("Unknown")
}

/// An example of each kind's parameters, shown under the editor's text area.
fn example(kind: &str) -> &'static str {
    match kind {
        "blocked_topics" => {
            r#"{"keywords": ["lawsuit", "competitor"], "patterns": ["crypto\\w*"]}"#
        }
        "pii_redaction" => r#"{"types": ["email", "phone", "card"]}"#,
        "max_length" => r#"{"max_chars": 2000, "truncate": false}"#,
        "allowed_models" => r#"{"models": ["gpt-4o", "claude-3-5-sonnet"]}"#,
        _ => r#"{"keywords": ["refund", "complaint"]}"#,
    }
}

#[component]
pub fn GuardrailsPage() -> impl IntoView {
    let query = use_query_map();
    let search = use_location().search;
    let policies = Resource::new(move || search.get(), |_| list_policies());
    let log = Resource::new(
        move || {
            (
                search.get(),
                query.with(|q| q.get("action").unwrap_or_default()),
            )
        },
        |(_, action)| list_interventions(action),
    );
    let notice = move || {
        query.with(|q| {
            q.get("saved").map(|kind| match kind.as_str() {
                "deleted" => "Policy deleted.",
                _ => "Policy saved.",
            })
        })
    };
    view! {
        <Title text="Guardrails" />
        <div class="mx-auto max-w-7xl">
            {move || notice().map(|text| view! { <Toast text /> })}
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold tracking-tight">"Guardrails"</h1>
                    <p class="mt-1 text-sm text-slate-600">
                        "Policies this organization's agents must obey, applied in priority order (lowest first) to every text they evaluate."
                    </p>
                </div>
                <A href="/guardrails/new" attr:class=format!("{PRIMARY} {FOCUS_RING}")>"New Policy"</A>
            </div>
            <Transition fallback=|| view! { <p class="mt-6 text-sm text-slate-500">"Loading policies…"</p> }>
                {move || policies.get().map(|result| match result {
                    Ok(rows) => view! { <PolicyTable rows /> }.into_any(),
                    Err(err) => view! { <p role="alert" class="mt-6 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <section class="mt-10" aria-labelledby="log-title">
                <div class="flex flex-wrap items-center justify-between gap-3">
                    <h2 id="log-title" class="text-lg font-semibold">"Interventions"</h2>
                    <ul class="flex gap-2" aria-label="Intervention filter">
                        {[("", "All"), ("block", "Blocks"), ("redact", "Redactions")].into_iter().map(|(value, label)| {
                            let href = if value.is_empty() { "/guardrails".to_string() } else { format!("/guardrails?action={value}") };
                            let selected = move || query.with(|q| q.get("action").unwrap_or_default()) == value;
                            view! {
                                <li>
                                    <A href=href attr:aria-current=move || selected().then_some("true")
                                        attr:class=move || format!("inline-block rounded-full border px-3 py-1 text-sm {FOCUS_RING} {}",
                                            if selected() { "border-indigo-600 bg-indigo-600 text-white" } else { "border-slate-300 bg-white text-slate-700 hover:bg-slate-50" })>
                                        {label}
                                    </A>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
                <Transition fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading interventions…"</p> }>
                    {move || log.get().map(|result| match result {
                        Ok(rows) => view! { <InterventionTable rows /> }.into_any(),
                        Err(err) => view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                    })}
                </Transition>
            </section>
        </div>
        <Outlet />
    }
}

#[component]
fn PolicyTable(rows: Vec<PolicyRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 p-8 text-center text-sm text-slate-600" data-testid="policies-empty">
                "No policies yet: this organization's agents are not restricted. Add one with New Policy."
            </div>
        }
        .into_any();
    }
    view! {
        <div class="mt-6 overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="policies">
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        <th scope="col" class="px-3 py-2">"Priority"</th>
                        <th scope="col" class="px-3 py-2">"Name"</th>
                        <th scope="col" class="px-3 py-2">"Kind"</th>
                        <th scope="col" class="px-3 py-2">"State"</th>
                        <th scope="col" class="px-3 py-2">"Updated"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|p| view! {
                        <tr data-testid="policy-row">
                            <td class="px-3 py-2 tabular-nums">{p.priority}</td>
                            <td class="px-3 py-2">
                                <A href=format!("/guardrails/{}", p.id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}") attr:data-testid="policy-name">
                                    {p.name.clone()}
                                </A>
                            </td>
                            <td class="px-3 py-2">{kind_label(&p.kind)}</td>
                            <td class="px-3 py-2">
                                {if p.enabled {
                                    view! { <span class="rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700">"Enabled"</span> }
                                } else {
                                    view! { <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600">"Disabled"</span> }
                                }}
                            </td>
                            <td class="px-3 py-2 tabular-nums text-slate-600">{p.updated_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn InterventionTable(rows: Vec<InterventionRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="interventions-empty">
                "No interventions match. Blocks and redactions appear here as agents evaluate texts."
            </p>
        }
        .into_any();
    }
    view! {
        <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="interventions">
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        <th scope="col" class="px-3 py-2">"When"</th>
                        <th scope="col" class="px-3 py-2">"Agent"</th>
                        <th scope="col" class="px-3 py-2">"Policy"</th>
                        <th scope="col" class="px-3 py-2">"Action"</th>
                        <th scope="col" class="px-3 py-2">"Excerpt"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|i| view! {
                        <tr data-testid="intervention">
                            <td class="whitespace-nowrap px-3 py-2 tabular-nums text-slate-600">{i.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                            <td class="px-3 py-2">{i.agent_name.clone().unwrap_or_else(|| "—".to_string())}</td>
                            <td class="px-3 py-2">{i.policy_name.clone()}</td>
                            <td class="px-3 py-2">
                                <span class=if i.action == "block" { "rounded-full bg-rose-50 px-2 py-0.5 text-xs font-medium text-rose-700" } else { "rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-700" }>
                                    {if i.action == "block" { "Blocked" } else { "Redacted" }}
                                </span>
                                {i.escalated.then(|| view! { <span class="ml-1 text-xs text-slate-600">"· to a human"</span> })}
                                <div class="mt-1 text-xs text-slate-500">{i.reason.clone()}</div>
                            </td>
                            <td class="max-w-md px-3 py-2 font-mono text-xs text-slate-700">{i.excerpt.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The editor: `/guardrails/new`, or `/guardrails/:id` for a listed policy.
#[component]
pub fn PolicyEditor() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let policies = Resource::new(|| (), |_| list_policies());
    let save = ServerAction::<SavePolicy>::new();
    let delete = ServerAction::<DeletePolicy>::new();
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    view! {
        <Suspense fallback=|| ()>
            {move || policies.get().map(|result| {
                let current = id();
                let existing = result
                    .ok()
                    .and_then(|rows| rows.into_iter().find(|p| p.id == current));
                if current != "new" && existing.is_none() {
                    return view! {
                        <Modal title="Policy".to_string() close="/guardrails">
                            <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                                "This policy was not found in the organization you are working in."
                            </p>
                        </Modal>
                    }
                    .into_any();
                }
                let p = existing.clone().unwrap_or(PolicyRow {
                    id: String::new(),
                    name: String::new(),
                    kind: "blocked_topics".to_string(),
                    enabled: true,
                    priority: 100,
                    params: example("blocked_topics").to_string(),
                    updated_at: chrono::Utc::now(),
                });
                let title = if existing.is_some() { format!("Edit policy · {}", p.name) } else { "New Policy".to_string() };
                let kind = RwSignal::new(p.kind.clone());
                let delete_id = p.id.clone();
                view! {
                    <Modal title close="/guardrails">
                        <ActionForm action=save attr:class="mt-4 space-y-4" attr:novalidate=true>
                            {form_alert(error)}
                            <input type="hidden" name="policy_id" value=p.id.clone() />
                            <div class="grid grid-cols-3 gap-4">
                                <div class="col-span-2">
                                    <label for="policy-name" class="block text-sm font-medium">"Name"</label>
                                    <input id="policy-name" name="name" value=p.name.clone() class=INPUT aria-invalid=invalid(error, "name") />
                                    <FieldError error field="name" />
                                </div>
                                <div>
                                    <label for="policy-priority" class="block text-sm font-medium">"Priority"</label>
                                    <input id="policy-priority" name="priority" type="number" min="0" max="10000" value=p.priority.to_string()
                                        class=INPUT aria-invalid=invalid(error, "priority") aria-describedby="priority-help" />
                                    <p id="priority-help" class="mt-1 text-xs text-slate-500">"Lower runs first."</p>
                                    <FieldError error field="priority" />
                                </div>
                            </div>
                            <div class="grid grid-cols-3 gap-4">
                                <div class="col-span-2">
                                    <label for="policy-kind" class="block text-sm font-medium">"Kind"</label>
                                    <select id="policy-kind" name="kind" class=INPUT aria-invalid=invalid(error, "kind")
                                        on:change=move |ev| kind.set(event_target_value(&ev))>
                                        {KINDS.iter().map(|(value, label)| view! {
                                            <option value=*value selected=*value == p.kind>{*label}</option>
                                        }).collect_view()}
                                    </select>
                                    <FieldError error field="kind" />
                                </div>
                                <label class="mt-6 flex items-center gap-2 text-sm font-medium">
                                    <input type="checkbox" name="enabled" checked=p.enabled class="rounded border-slate-300" />
                                    "Enabled"
                                </label>
                            </div>
                            <div>
                                <label for="policy-params" class="block text-sm font-medium">"Parameters (JSON)"</label>
                                <textarea id="policy-params" name="params" rows="5" class=format!("{INPUT} font-mono")
                                    aria-invalid=invalid(error, "params") aria-describedby="params-help">{p.params.clone()}</textarea>
                                <p id="params-help" class="mt-1 text-xs text-slate-500">
                                    "For example: " <code class="font-mono">{move || example(&kind.get())}</code>
                                </p>
                                <FieldError error field="params" />
                            </div>
                            <div class="flex justify-end gap-3 border-t border-slate-100 pt-4">
                                <A href="/guardrails" attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save policy"</button>
                            </div>
                        </ActionForm>
                        {existing.is_some().then(|| view! {
                            <details class="mt-4 rounded-md border border-rose-200 p-3 text-sm">
                                <summary class=format!("cursor-pointer font-medium text-rose-700 {FOCUS_RING}")>"Delete this policy…"</summary>
                                <p class="mt-2 text-slate-700">"Its agents stop being checked by it at once. Past interventions keep its name."</p>
                                <div class="mt-2">{form_alert(delete_error)}</div>
                                <ActionForm action=delete attr:class="mt-2">
                                    <input type="hidden" name="policy_id" value=delete_id.clone() />
                                    <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>"Delete policy"</button>
                                </ActionForm>
                            </details>
                        })}
                    </Modal>
                }
                .into_any()
            })}
        </Suspense>
    }
}
