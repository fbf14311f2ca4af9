//! `/audit`: the log, its filters (a plain GET form: the view lives in the URL), pages and the
//! CSV export of what is shown.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{org_events, platform_events, AuditLog, AuditQuery, AuditRow};
use crate::ui::{
    style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
    FieldError,
};

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| {
            let get = |k: &str| p.get(k).unwrap_or_default();
            AuditQuery {
                actor: get("actor"),
                action: get("action"),
                target: get("target"),
                ip: get("ip"),
                from: get("from"),
                to: get("to"),
                scope: get("scope"),
                org: get("org"),
                before: get("before"),
            }
        })
    });
    let log = Resource::new(
        move || query.get(),
        |q| async move {
            if q.platform() {
                platform_events(q).await
            } else {
                org_events(q).await
            }
        },
    );
    view! {
        <Title text="Audit log" />
        <div class="mx-auto max-w-6xl" data-testid="audit">
            <h1 class="text-2xl font-semibold tracking-tight">"Audit log"</h1>
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || log.get().map(|result| {
                    let q = query.get_untracked();
                    match result {
                        Ok(log) => view! { <Log log /> }.into_any(),
                        Err(err) => {
                            let error = Signal::derive(move || Some(err.clone()));
                            view! {
                                <Filters q error superadmin=false />
                                <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                                    {move || error.get().map(|e| e.to_string())}
                                </p>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn Filters(
    q: AuditQuery,
    error: Signal<Option<crate::AppError>>,
    superadmin: bool,
) -> impl IntoView {
    let field = |id: &'static str,
                 label: &'static str,
                 name: &'static str,
                 value: String,
                 kind: &'static str,
                 hint: &'static str| {
        view! {
            <div class="w-40">
                <label for=id class="block text-xs font-medium text-slate-700">{label}</label>
                <input id=id name=name type=kind value=value placeholder=hint class=INPUT
                    aria-invalid=crate::ui::invalid(error, name) />
                <FieldError error field=name />
            </div>
        }
    };
    view! {
        <form method="get" action="/audit" class="mt-4 flex flex-wrap items-start gap-3 rounded-lg border border-slate-200 p-4" data-testid="audit-filters">
            {field("audit-actor", "Actor", "actor", q.actor.clone(), "text", "email or name")}
            {field("audit-action", "Action", "action", q.action.clone(), "text", "e.g. invitation")}
            {field("audit-target", "Target", "target", q.target.clone(), "text", "")}
            {field("audit-ip", "IP address", "ip", q.ip.clone(), "text", "")}
            {field("audit-from", "From", "from", q.from.clone(), "date", "")}
            {field("audit-to", "To", "to", q.to.clone(), "date", "")}
            {superadmin.then(|| view! {
                <div class="w-44">
                    <label for="audit-scope" class="block text-xs font-medium text-slate-700">"Log"</label>
                    <select id="audit-scope" name="scope" class=INPUT>
                        <option value="" selected=!q.platform()>"This organization"</option>
                        <option value="platform" selected=q.platform()>"Platform"</option>
                    </select>
                </div>
            })}
            {q.platform().then(|| view! {
                <div class="w-72">
                    <label for="audit-org" class="block text-xs font-medium text-slate-700">"Organization id"</label>
                    <input id="audit-org" name="org" value=q.org.clone() placeholder="empty: platform events" class=INPUT />
                    <FieldError error field="org" />
                </div>
            })}
            <div class="ml-auto flex gap-2 self-end">
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>"Apply"</button>
                <a href=if q.platform() { "/audit?scope=platform" } else { "/audit" } class=format!("{SECONDARY} {FOCUS_RING}")>"Clear"</a>
            </div>
        </form>
    }
}

#[component]
fn Log(log: AuditLog) -> impl IntoView {
    let AuditLog {
        query,
        rows,
        older,
        org_id,
        org_name,
        superadmin,
    } = log;
    let no_error = Signal::derive(|| None);
    let export = if query.platform() {
        format!("/api/audit/platform-export.csv?{}", query.params(None))
    } else {
        format!(
            "/api/audit/orgs/{}/export.csv?{}",
            org_id.clone().unwrap_or_default(),
            query.params(None)
        )
    };
    let whose = match (&org_name, query.platform()) {
        (_, true) if query.org.trim().is_empty() => {
            "The platform's own events (no organization).".to_string()
        }
        (_, true) => format!(
            "Organization {}'s events, as the platform keeps them.",
            query.org.trim()
        ),
        (Some(name), false) => format!("What happened in {name}, newest first."),
        (None, false) => "Newest first.".to_string(),
    };
    let filtered = !query
        .params(None)
        .replace("scope=platform", "")
        .trim_matches('&')
        .is_empty();
    let newest = format!("/audit?{}", query.params(None));
    let next = older.map(|before| format!("/audit?{}", query.params(Some(before))));
    let paged = !query.before.is_empty();
    view! {
        <div class="mt-1 flex items-center justify-between gap-4">
            <p class="text-sm text-slate-600" data-testid="audit-scope">{whose}</p>
            <a href=export rel="external" class=format!("{SECONDARY} {FOCUS_RING}") data-testid="audit-export" download>"Export CSV"</a>
        </div>
        <Filters q=query.clone() error=no_error superadmin />
        {if rows.is_empty() {
            view! {
                <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="audit-empty">
                    {if filtered { "No events match these filters." } else { "No events yet." }}
                </p>
            }.into_any()
        } else {
            view! {
                <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200">
                    <table class="min-w-full divide-y divide-slate-200 text-sm">
                        <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                            <tr>
                                <th scope="col" class="px-3 py-2">"Time (UTC)"</th>
                                {query.platform().then(|| view! { <th scope="col" class="px-3 py-2">"Organization"</th> })}
                                <th scope="col" class="px-3 py-2">"Actor"</th>
                                <th scope="col" class="px-3 py-2">"Action"</th>
                                <th scope="col" class="px-3 py-2">"Target"</th>
                                <th scope="col" class="px-3 py-2">"IP"</th>
                                <th scope="col" class="px-3 py-2">"Details"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {rows.into_iter().map(|r| view! { <Row r platform=query.platform() /> }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
        <nav class="mt-4 flex justify-end gap-2" aria-label="Pages">
            {paged.then(|| view! { <a href=newest.clone() class=format!("{SECONDARY} {FOCUS_RING}")>"Newest"</a> })}
            {next.map(|href| view! { <a href=href class=format!("{SECONDARY} {FOCUS_RING}") data-testid="audit-older">"Older"</a> })}
        </nav>
    }
}

#[component]
fn Row(r: AuditRow, platform: bool) -> impl IntoView {
    let actor = r
        .actor_email
        .clone()
        .or_else(|| {
            r.actor_id
                .as_ref()
                .map(|id| format!("user {}", &id[..8.min(id.len())]))
        })
        .unwrap_or_else(|| "system".to_string());
    let details = if r.details == "{}" {
        String::new()
    } else {
        r.details.clone()
    };
    view! {
        <tr data-testid="audit-row" data-action=r.action.clone()>
            <td class="whitespace-nowrap px-3 py-2 font-mono text-xs text-slate-600">{r.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
            {platform.then(|| view! {
                <td class="px-3 py-2 text-xs">{r.org_name.clone().or(r.org_id.clone()).unwrap_or_else(|| "—".to_string())}</td>
            })}
            <td class="px-3 py-2" data-testid="audit-actor">{actor}</td>
            <td class="px-3 py-2 font-medium">{r.action.clone()}</td>
            <td class="max-w-xs truncate px-3 py-2" title=r.target.clone()>{r.target.clone()}</td>
            <td class="whitespace-nowrap px-3 py-2 font-mono text-xs" title=r.user_agent.clone()>{r.ip.clone()}</td>
            <td class="max-w-sm truncate px-3 py-2 font-mono text-xs text-slate-600" title=details.clone()>{details.clone()}</td>
        </tr>
    }
}
