//! The Domains tab of the org detail view (`/organizations/:id/domains`), and the superadmins'
//! banner while a domain conflict exists.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::{
    domain_conflicts, record_name, AddDomain, CheckDomain, Domain, DomainList, RemoveDomain,
    FAIL_AFTER_DAYS,
};
use crate::{
    auth::{submission_error, SessionInfo},
    orgs::refetch_detail_after,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, READONLY, SECONDARY},
        FieldError,
    },
    AppError,
};

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

#[component]
pub fn DomainsTab() -> impl IntoView {
    crate::orgs::detail_tab(
        |id, _| super::list_domains(id),
        |org_id, list| view! { <DomainsView org_id list /> },
    )
}

#[component]
fn DomainsView(org_id: String, list: Result<DomainList, AppError>) -> impl IntoView {
    let add = ServerAction::<AddDomain>::new();
    let check = ServerAction::<CheckDomain>::new();
    let remove = ServerAction::<RemoveDomain>::new();
    refetch_detail_after(add);
    refetch_detail_after(check);
    refetch_detail_after(remove);
    let error = submission_error(add);
    let check_error = submission_error(check);
    let remove_error = submission_error(remove);
    let list = match list {
        Ok(list) => list,
        Err(err) => {
            return view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }
                .into_any()
        }
    };
    let DomainList {
        domains,
        can_manage,
        primary_domain,
    } = list;
    let rows_org = org_id.clone();
    view! {
        <div data-testid="domains-tab">
            <p class="mt-4 text-sm text-slate-600">
                {format!("Requests reach this organization at a custom domain once the domain is verified: publish a DNS TXT record holding the domain's token, then check it. A domain not verified within {FAIL_AFTER_DAYS} days fails.")}
            </p>
            <div class="mt-3">{form_alert(check_error)}{form_alert(remove_error)}</div>
            {if domains.is_empty() {
                view! {
                    <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="domains-empty">
                        "No custom domains yet. The organization is reached at its subdomain."
                    </p>
                }.into_any()
            } else {
                view! {
                    <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Custom domains">
                        <For each=move || domains.clone() key=|d| (d.id.clone(), d.status.clone(), d.checked_at) children=move |d| {
                            view! { <DomainRow domain=d org_id=rows_org.clone() can_manage check remove /> }
                        } />
                    </ul>
                }.into_any()
            }}
            {can_manage.then(|| view! {
                <ActionForm action=add attr:class="mt-6 rounded-lg border border-slate-200 p-4" attr:novalidate=true attr:data-testid="add-domain-form">
                    <h3 class="text-sm font-semibold">"Add a domain"</h3>
                    <input type="hidden" name="org_id" value=org_id.clone() />
                    <div class="mt-2 flex flex-wrap items-start gap-3">
                        <div class="min-w-64 flex-1">
                            <label for="domain-name" class="sr-only">"Domain"</label>
                            <input id="domain-name" name="domain" autocomplete="off" placeholder="assistant.example.com"
                                value=primary_domain.clone().unwrap_or_default()
                                class=INPUT aria-invalid=invalid(error, "domain") aria-describedby="domain-help" />
                            <p id="domain-help" class="mt-1 text-xs text-slate-500">
                                {match primary_domain.clone() {
                                    Some(p) => format!("Filled in with the organization's primary domain, {p}, which is not added yet."),
                                    None => "A domain you control, without scheme or path.".to_string(),
                                }}
                            </p>
                            <FieldError error field="domain" />
                        </div>
                        <button type="submit" class=format!("mt-1 {PRIMARY} {FOCUS_RING}") disabled=move || add.pending().get()>
                            {move || if add.pending().get() { "Adding…" } else { "Add domain" }}
                        </button>
                    </div>
                    <div class="mt-2">{form_alert(error)}</div>
                </ActionForm>
            })}
        </div>
    }
    .into_any()
}

fn status_badge(status: &str) -> AnyView {
    let (label, class) = match status {
        "verified" => ("Verified", "bg-emerald-100 text-emerald-800"),
        "failed" => ("Failed", "bg-rose-100 text-rose-800"),
        _ => ("Pending", "bg-amber-100 text-amber-800"),
    };
    view! {
        <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {class}") data-testid="domain-status">{label}</span>
    }
    .into_any()
}

#[component]
fn DomainRow(
    domain: Domain,
    org_id: String,
    can_manage: bool,
    check: ServerAction<CheckDomain>,
    remove: ServerAction<RemoveDomain>,
) -> impl IntoView {
    let name = domain.domain.clone();
    let since = match domain.status.as_str() {
        "verified" => domain
            .verified_at
            .map(|at| format!("verified {}", day(at)))
            .unwrap_or_default(),
        "failed" => domain
            .failed_at
            .map(|at| format!("failed {}", day(at)))
            .unwrap_or_default(),
        _ => format!(
            "added {} · fails {} unless verified",
            day(domain.created_at),
            day(domain.fails_at())
        ),
    };
    let last_check = domain.checked_at.map(|at| {
        format!(
            "Last checked {} UTC: {}",
            at.format("%Y-%m-%d %H:%M"),
            domain.check_result.clone().unwrap_or_default()
        )
    });
    let unproven = domain.status != "verified";
    let record = record_name(&domain.domain);
    let token = domain.token.clone();
    let (check_label, remove_label) = (format!("Check {name} now"), format!("Remove {name}…"));
    let (check_org, remove_org) = (org_id.clone(), org_id);
    let (check_id, remove_id) = (domain.id.clone(), domain.id.clone());
    let remove_words = if unproven {
        format!("Remove {name}")
    } else {
        format!("Remove {name}: it stops routing at once")
    };
    view! {
        <li class="px-4 py-3 text-sm" data-testid="domain" data-domain=name.clone()>
            <div class="flex flex-wrap items-center justify-between gap-3">
                <span class="flex items-center gap-2">
                    <span class="font-mono font-medium">{name.clone()}</span>
                    {status_badge(&domain.status)}
                </span>
                <span class="text-xs text-slate-600">{since}</span>
            </div>
            {(!unproven).then(|| view! {
                <p class="mt-2 text-xs text-slate-600">"Keep this record published: it is checked daily, and a domain whose record is missing for 7 daily checks in a row stops routing."</p>
            })}
            {view! {
                <dl class="mt-2 grid grid-cols-1 gap-2 sm:grid-cols-[6rem_1fr]" data-testid="domain-record">
                    <div>
                        <dt class="text-xs font-medium text-slate-500">"Type"</dt>
                        <dd><input readonly value="TXT" class=READONLY aria-label="Record type" /></dd>
                    </div>
                    <div class="sm:col-span-1">
                        <dt class="text-xs font-medium text-slate-500">"Name"</dt>
                        <dd><input readonly value=record.clone() class=format!("{READONLY} font-mono") aria-label="Record name" data-testid="domain-record-name" /></dd>
                    </div>
                    <div class="sm:col-span-2">
                        <dt class="text-xs font-medium text-slate-500">"Value"</dt>
                        <dd><input readonly value=token.clone() class=format!("{READONLY} font-mono") aria-label="Record value" data-testid="domain-token" /></dd>
                    </div>
                </dl>
            }}
            {last_check.map(|text| view! { <p class="mt-2 text-xs text-slate-600" data-testid="domain-check-result">{text}</p> })}
            {can_manage.then(|| view! {
                <div class="mt-2 flex flex-wrap items-start gap-3">
                    {unproven.then(|| view! {
                        <ActionForm action=check>
                            <input type="hidden" name="org_id" value=check_org.clone() />
                            <input type="hidden" name="domain_id" value=check_id.clone() />
                            <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}") aria-label=check_label.clone() disabled=move || check.pending().get()>
                                {move || if check.pending().get() { "Checking…" } else { "Check now" }}
                            </button>
                        </ActionForm>
                    })}
                    <details>
                        <summary class=format!("cursor-pointer py-2 text-xs font-medium text-rose-700 {FOCUS_RING}") aria-label=remove_label.clone()>"Remove…"</summary>
                        <ActionForm action=remove attr:class="mt-1">
                            <input type="hidden" name="org_id" value=remove_org.clone() />
                            <input type="hidden" name="domain_id" value=remove_id.clone() />
                            <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{remove_words.clone()}</button>
                        </ActionForm>
                    </details>
                </div>
            })}
        </li>
    }
}

/// For superadmins: every domain conflict, until it is resolved. Shows nothing to anyone else,
/// and asks nothing of the server for them.
#[component]
pub fn DomainConflictBanner() -> impl IntoView {
    let superadmin = use_context::<SessionInfo>().is_some_and(|s| s.superadmin);
    superadmin.then(|| {
        let conflicts = Resource::new(|| (), |_| domain_conflicts());
        view! {
            <Suspense fallback=|| ()>
                {move || conflicts.get().and_then(Result::ok).filter(|c| !c.is_empty()).map(|conflicts| view! {
                    <div role="alert" class="mb-4 rounded-md border border-rose-300 bg-rose-50 px-4 py-3 text-sm text-rose-900" data-testid="domain-conflicts">
                        <p class="font-semibold">{format!("{} custom domain conflict(s): requests to these domains are not safely routed.", conflicts.len())}</p>
                        <ul class="mt-1 list-disc pl-5">
                            {conflicts.into_iter().map(|c| view! { <li><span class="font-mono">{c.domain}</span>": "{c.problem}</li> }).collect_view()}
                        </ul>
                    </div>
                })}
            </Suspense>
        }
    })
}
