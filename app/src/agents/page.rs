//! The Agents page (`/agents`): the registry for superadmins, with New Agent (its API key shown
//! once); an org's own agents for its members. And the org detail view's Agents tab: assign an
//! unassigned agent from a dropdown, unassign one; every change takes effect at once.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Form, Outlet, A},
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{
    agent_keys, list_agents, status_label, AgentRow, AssignAgent, CreateAgent, IssueKey,
    OrgAgentList, RevokeKey, UnassignAgent, MODELS,
};
use crate::{
    auth::submission_error,
    orgs::refetch_detail_after,
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Modal, Toast,
    },
};

fn status_badge(status: &str) -> impl IntoView {
    let tone = match status {
        "active" => "bg-emerald-50 text-emerald-700",
        "paused" => "bg-amber-50 text-amber-700",
        _ => "bg-slate-100 text-slate-600",
    };
    view! {
        <span data-testid="agent-status" class=format!("rounded-full px-2 py-0.5 text-xs font-medium {tone}")>
            {status_label(status)}
        </span>
    }
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    let query = use_query_map();
    let search = use_location().search;
    let create = ServerAction::<CreateAgent>::new();
    let page = Resource::new(
        move || (search.get(), create.version().get()),
        move |_| {
            let (q, page, scope) = query.with_untracked(|q| {
                (
                    q.get("q").unwrap_or_default(),
                    q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
                    q.get("scope").unwrap_or_default(),
                )
            });
            list_agents(q, page, scope)
        },
    );
    view! {
        <Title text="Agents" />
        <div class="mx-auto max-w-7xl">
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading agents…"</p> }>
                {move || page.get().map(|result| match result {
                    Ok(page) => {
                        let registry = page.registry;
                        // The org a superadmin acts in (the switcher's), which the registry is
                        // narrowed to by default.
                        let acting = page.org_name.clone().filter(|_| registry);
                        // The view, kept in the keys dialog's address and where it closes to.
                        let view_query = {
                            let mut params = Vec::new();
                            if !page.scope.is_empty() {
                                params.push(format!("scope={}", page.scope));
                            }
                            if !page.q.is_empty() {
                                params.push(format!("q={}", crate::orgs::encode(&page.q)));
                            }
                            if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) }
                        };
                        let description = if registry {
                            match page.scope.as_str() {
                                "org" => format!("The agents serving {}, the organization you are working in, and those no organization has yet. Each agent serves at most one organization; assign them from an organization's Agents tab.", acting.clone().unwrap_or_default()),
                                "unassigned" => "Agents no organization has yet; assign them from an organization's Agents tab.".to_string(),
                                _ => "Every agent on the platform. Each serves at most one organization; assign them from an organization's Agents tab.".to_string(),
                            }
                        } else {
                            format!("The agents serving {}.", page.org_name.clone().unwrap_or_default())
                        };
                        let empty = match (registry, page.scope.as_str()) {
                            (true, "org") => "No agents serve this organization, and none is free to assign. Create one above, then assign it from the organization's Agents tab.",
                            (true, "unassigned") => "Every agent serves an organization.",
                            (true, _) => "No agents yet. Create one above.",
                            (false, _) => "No agents serve this organization yet.",
                        };
                        let scope_input = registry.then(|| view! { <input type="hidden" name="scope" value=page.scope.clone() /> });
                        let scope_filter = registry.then(|| view! { <ScopeFilter current=page.scope.clone() q=page.q.clone() acting=acting.clone() /> });
                        view! {
                            <div class="flex flex-wrap items-end justify-between gap-4">
                                <div>
                                    <h1 class="text-2xl font-semibold tracking-tight">"Agents"</h1>
                                    <p class="mt-1 text-sm text-slate-600">
                                        {description}
                                    </p>
                                </div>
                                <Form method="GET" action="/agents" attr:role="search" attr:class="flex gap-2">
                                    <label for="agent-search" class="sr-only">"Search agents"</label>
                                    <input id="agent-search" name="q" value=page.q.clone() placeholder="Name or email"
                                        class="w-56 rounded-md border border-slate-300 px-3 py-1.5 text-sm" />
                                    {scope_input}
                                    <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Search"</button>
                                </Form>
                            </div>
                            {scope_filter}
                            {registry.then(|| view! { <NewAgentForm create /> })}
                            <AgentTable rows=page.rows.clone() registry empty view_query />
                            <p class="mt-3 text-sm text-slate-600" data-testid="agents-count">
                                {format!("{} agent(s)", page.matching)}
                            </p>
                        }.into_any()
                    }
                    Err(err) => view! {
                        <p role="alert" class="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
                    }.into_any(),
                })}
            </Transition>
        </div>
        <Outlet />
    }
}

/// Which agents of the registry a superadmin sees: the org they act in (when they act in one),
/// those no org has, or all.
#[component]
fn ScopeFilter(current: String, q: String, acting: Option<String>) -> impl IntoView {
    let link = move |scope: &'static str, label: String| {
        let href = if q.is_empty() {
            format!("/agents?scope={scope}")
        } else {
            format!("/agents?scope={scope}&q={}", crate::orgs::encode(&q))
        };
        let selected = current == scope;
        view! {
            <li>
                <A href=href
                    attr:aria-current=selected.then_some("page")
                    attr:class=format!("rounded-full px-3 py-1 text-sm font-medium {FOCUS_RING} {}",
                        if selected { "bg-indigo-600 text-white" } else { "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50" })>
                    {label}
                </A>
            </li>
        }
    };
    view! {
        <ul class="mt-4 flex flex-wrap gap-2" aria-label="Agents shown" data-testid="agent-scope">
            {acting.map(|name| link("org", name))}
            {link("unassigned", "Unassigned".to_string())}
            {link("all", "All organizations".to_string())}
        </ul>
    }
}

/// The Agents page as the dialog was opened from it (its scope and search kept).
fn back_to_list() -> String {
    let search = use_location().search.get_untracked();
    let search = search.trim_start_matches('?');
    if search.is_empty() {
        "/agents".to_string()
    } else {
        format!("/agents?{search}")
    }
}

#[component]
fn NewAgentForm(create: ServerAction<CreateAgent>) -> impl IntoView {
    let error = submission_error(create);
    view! {
        <section class="mt-6 rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="new-agent-title">
            <h2 id="new-agent-title" class="text-sm font-semibold">"New Agent"</h2>
            <ActionForm action=create attr:class="mt-3 grid grid-cols-1 gap-3 sm:grid-cols-4" attr:novalidate=true>
                <div>
                    <label for="agent-name" class="block text-sm font-medium">"Name"</label>
                    <input id="agent-name" name="name" class=INPUT aria-invalid=invalid(error, "name") />
                    <FieldError error field="name" />
                </div>
                <div>
                    <label for="agent-email" class="block text-sm font-medium">"Email"</label>
                    <input id="agent-email" name="email" type="email" class=INPUT aria-invalid=invalid(error, "email") />
                    <FieldError error field="email" />
                </div>
                <div>
                    <label for="agent-model" class="block text-sm font-medium">"Model"</label>
                    <select id="agent-model" name="model" class=INPUT aria-invalid=invalid(error, "model")>
                        {MODELS.iter().map(|m| view! { <option value=*m>{*m}</option> }).collect_view()}
                    </select>
                    <FieldError error field="model" />
                </div>
                <div class="flex items-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || create.pending().get()>
                        "Create agent"
                    </button>
                </div>
                <div class="sm:col-span-4">{form_alert(error)}</div>
            </ActionForm>
            {move || create.value().get().and_then(Result::ok).map(|issued| view! {
                <div class="mt-3 rounded-md border border-amber-200 bg-amber-50 p-3 text-sm" data-testid="issued-key">
                    <p class="font-medium text-amber-900">"The agent's API key. Copy it now: it is shown only once."</p>
                    <code class="mt-2 block select-all break-all rounded bg-white px-2 py-1 font-mono text-xs">{issued.key}</code>
                </div>
            })}
        </section>
    }
}

#[component]
fn AgentTable(
    rows: Vec<AgentRow>,
    registry: bool,
    empty: &'static str,
    view_query: String,
) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 p-8 text-center text-sm text-slate-600" data-testid="agents-empty">
                {empty}
            </div>
        }
        .into_any();
    }
    view! {
        <div class="mt-6 overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="agents-table">
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        <th scope="col" class="px-3 py-2">"Name"</th>
                        <th scope="col" class="px-3 py-2">"Model"</th>
                        <th scope="col" class="px-3 py-2">"Status"</th>
                        {registry.then(|| view! {
                            <th scope="col" class="px-3 py-2">"Organization"</th>
                            <th scope="col" class="px-3 py-2">"Keys"</th>
                        })}
                        <th scope="col" class="px-3 py-2">"Created"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|a| view! {
                        <tr data-testid="agent-row">
                            <td class="px-3 py-2">
                                <div class="font-medium" data-testid="agent-name">{a.name.clone()}</div>
                                <div class="text-xs text-slate-500">{a.email.clone()}</div>
                            </td>
                            <td class="px-3 py-2 font-mono text-xs">{a.model.clone()}</td>
                            <td class="px-3 py-2">{status_badge(&a.status)}</td>
                            {registry.then(|| view! {
                                <td class="px-3 py-2">{a.org_name.clone().unwrap_or_else(|| "Unassigned".to_string())}</td>
                                <td class="px-3 py-2 tabular-nums">
                                    <A href=format!("/agents/{}{view_query}", a.id) attr:class=format!("text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")
                                        attr:aria-label=format!("API keys of {}", a.name)>
                                        {format!("{} active", a.keys)}
                                    </A>
                                </td>
                            })}
                            <td class="px-3 py-2 tabular-nums text-slate-600">{a.created_at.format("%Y-%m-%d").to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The Agents tab of the org detail view (`/organizations/:id/agents`); a change refetches it.
#[component]
pub fn OrgAgentsTab() -> impl IntoView {
    crate::orgs::detail_tab(
        |id, _| super::org_agents(id),
        |org_id, agents| view! { <OrgAgentsTabView org_id agents /> },
    )
}

#[component]
fn OrgAgentsTabView(
    org_id: String,
    agents: Result<OrgAgentList, crate::AppError>,
) -> impl IntoView {
    let assign = ServerAction::<AssignAgent>::new();
    let unassign = ServerAction::<UnassignAgent>::new();
    refetch_detail_after(assign);
    refetch_detail_after(unassign);
    let error = Signal::derive(move || {
        submission_error(assign)
            .get()
            .or_else(|| submission_error(unassign).get())
    });
    let notice = move || {
        use_query_map().with(|q| {
            q.get("saved").map(|kind| match kind.as_str() {
                "assigned" => "Agent assigned.",
                _ => "Agent unassigned.",
            })
        })
    };
    match agents {
        Ok(agents) => {
            let org_id = org_id.clone();
            // One root element: a fragment here hydrated twice.
            view! {
                        <div data-testid="org-agents-tab">
                        {notice().map(|text| view! { <Toast text /> })}
                        <div class="mt-4">{form_alert(error)}</div>
                        {agents.can_assign.then(|| {
                            let org_id = org_id.clone();
                            let empty = agents.unassigned.is_empty();
                            view! {
                                <ActionForm action=assign attr:class="mt-4 flex flex-wrap items-end gap-2">
                                    <input type="hidden" name="org_id" value=org_id.clone() />
                                    <div>
                                        <label for="assign-agent" class="block text-sm font-medium">"Unassigned agents"</label>
                                        <select id="assign-agent" name="agent_id" disabled=empty
                                            class="mt-1 w-72 rounded-md border border-slate-300 px-2 py-1.5 text-sm">
                                            {if empty {
                                                view! { <option value="">"No unassigned agents"</option> }.into_any()
                                            } else {
                                                agents.unassigned.iter().map(|a| view! {
                                                    <option value=a.id.clone()>{format!("{} · {} · {}", a.name, a.email, a.model)}</option>
                                                }).collect_view().into_any()
                                            }}
                                        </select>
                                    </div>
                                    <button type="submit" disabled=empty class=format!("{PRIMARY} {FOCUS_RING}")>"Assign"</button>
                                </ActionForm>
                            }
                        })}
                        {if agents.assigned.is_empty() {
                            view! {
                                <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="org-agents-empty">
                                    "No agents are assigned to this organization."
                                </p>
                            }.into_any()
                        } else {
                            view! {
                                <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200" data-testid="org-agents">
                                    {agents.assigned.into_iter().map(|a| {
                                        let org_id = org_id.clone();
                                        view! {
                                            <li class="flex items-center justify-between gap-3 px-4 py-2 text-sm" data-testid="org-agent">
                                                <div>
                                                    <span class="font-medium">{a.name.clone()}</span>
                                                    <span class="ml-2 text-slate-500">{a.email.clone()}</span>
                                                </div>
                                                <div class="flex items-center gap-3">
                                                    {status_badge(&a.status)}
                                                    {agents.can_assign.then(|| view! {
                                                        <ActionForm action=unassign>
                                                            <input type="hidden" name="org_id" value=org_id.clone() />
                                                            <input type="hidden" name="agent_id" value=a.id.clone() />
                                                            <button type="submit" aria-label=format!("Unassign {}", a.name)
                                                                class=format!("{SECONDARY} {FOCUS_RING}")>"Unassign"</button>
                                                        </ActionForm>
                                                    })}
                                                </div>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                        </div>
                    }.into_any()
        }
        Err(err) => {
            view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }
                .into_any()
        }
    }
}

/// An agent's API keys (`/agents/:id`, superadmins): issue another (shown once), revoke one (at
/// once: its next call is refused).
#[component]
pub fn AgentKeysDialog() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let issue = ServerAction::<IssueKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let keys = Resource::new(
        move || (id(), issue.version().get(), revoke.version().get()),
        |(id, _, _)| agent_keys(id),
    );
    let error = Signal::derive(move || {
        submission_error(issue)
            .get()
            .or_else(|| submission_error(revoke).get())
    });
    view! {
        <Modal title="API keys".to_string() close=back_to_list()>
            <p class="mt-1 text-sm text-slate-600">"Only a key's prefix is kept in a readable form; a revoked key is refused at once."</p>
            <div class="mt-3">{form_alert(error)}</div>
            {move || issue.value().get().and_then(Result::ok).map(|issued| view! {
                <div class="mt-3 rounded-md border border-amber-200 bg-amber-50 p-3 text-sm" data-testid="issued-key">
                    <p class="font-medium text-amber-900">"The new key. Copy it now: it is shown only once."</p>
                    <code class="mt-2 block select-all break-all rounded bg-white px-2 py-1 font-mono text-xs">{issued.key}</code>
                </div>
            })}
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading keys…"</p> }>
                {move || keys.get().map(|result| match result {
                    Ok(keys) => view! {
                        <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200 text-sm" data-testid="agent-keys">
                            {keys.into_iter().map(|k| view! {
                                <li class="flex items-center justify-between gap-3 px-4 py-2" data-testid="agent-key">
                                    <div>
                                        <code class="font-mono">{k.prefix.clone()}</code>
                                        <span class="ml-2 text-slate-500">{k.label.clone()}</span>
                                        <div class="text-xs text-slate-500">
                                            {format!("created {}", k.created_at.format("%Y-%m-%d %H:%M"))}
                                            {k.last_used_at.map(|t| format!(" · last used {}", t.format("%Y-%m-%d %H:%M")))}
                                        </div>
                                    </div>
                                    {match k.revoked_at {
                                        Some(t) => view! { <span class="text-xs text-slate-500">{format!("revoked {}", t.format("%Y-%m-%d %H:%M"))}</span> }.into_any(),
                                        None => view! {
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="key_id" value=k.id.clone() />
                                                <button type="submit" aria-label=format!("Revoke {}", k.prefix) class=format!("{SECONDARY} {FOCUS_RING}")>"Revoke"</button>
                                            </ActionForm>
                                        }.into_any(),
                                    }}
                                </li>
                            }).collect_view()}
                        </ul>
                        // Only once the keys loaded: the address's id is never echoed unchecked.
                        <ActionForm action=issue attr:class="mt-4 flex items-end gap-2">
                            <input type="hidden" name="agent_id" value=id() />
                            <div>
                                <label for="key-label" class="block text-sm font-medium">"Label"</label>
                                <input id="key-label" name="label" placeholder="production" class="mt-1 w-56 rounded-md border border-slate-300 px-2 py-1.5 text-sm" />
                            </div>
                            <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>"Issue a new key"</button>
                        </ActionForm>
                    }.into_any(),
                    Err(err) => view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Modal>
    }
}
