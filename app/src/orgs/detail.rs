//! The org detail view: a dialog with one nested route per tab (`/organizations/:id` for the
//! overview, then `/members`, `/agents`, `/credentials`, `/billing`, `/products`). The frame
//! here names the org; each tab is a component of its own capability, loading its own data
//! through its own endpoint under that endpoint's need ([`detail_tab`]).

use std::future::Future;

use leptos::prelude::*;
use leptos_router::{
    components::{Outlet, A},
    hooks::{use_location, use_params_map},
    params::ParamsMap,
};
use serde::{de::DeserializeOwned, Serialize};

use super::{org_header, org_overview, OrgOverviewData, OrgTitle, Organization, PRODUCTS};
use crate::{
    auth::SessionInfo,
    ui::{
        style::{FOCUS_RING, PRIMARY, SECONDARY},
        Modal, TabNav,
    },
    AppError,
};

/// The tabs: (route below `/organizations/:id`, label); the first is the view's own address.
const TABS: [(&str, &str); 8] = [
    ("", "Overview"),
    ("members", "Members"),
    ("agents", "Agents"),
    ("credentials", "Credentials"),
    ("billing", "Billing & Costs"),
    ("products", "Products"),
    ("analytics", "Analytics"),
    ("domains", "Domains"),
];

/// Bumped after a save inside the detail view, so the view refetches even when the save
/// redirects to the very address it came from (the router then sees no change).
#[derive(Clone, Copy)]
pub struct DetailRefresh(RwSignal<u64>);

/// What reads the open tab (and the frame) again: for a tab that watches something change.
/// Taken while the tab renders; called later (from a timer).
pub fn refresh_detail() -> impl Fn() + Clone + Send + Sync + 'static {
    let refresh = use_context::<DetailRefresh>().map(|DetailRefresh(r)| r);
    move || {
        if let Some(refresh) = refresh {
            refresh.try_update(|n| *n += 1);
        }
    }
}

/// The frame's answer, for the tabs: a tab shows nothing of its own while the org itself
/// cannot be read (the frame explains why, once).
#[derive(Clone, Copy)]
struct Frame(Resource<Result<OrgTitle, AppError>>);

/// Makes the org detail view refetch after each successful submission of `action`. (Only on
/// success: a refetch re-renders the tab, which would take a refused form's errors with it.)
pub fn refetch_detail_after<S>(action: ServerAction<S>)
where
    S: leptos::server_fn::ServerFn<Error = crate::AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let Some(DetailRefresh(refresh)) = use_context::<DetailRefresh>() else {
        return;
    };
    Effect::new(move |seen: Option<usize>| {
        let now = action.version().get();
        let succeeded = action.value().with_untracked(|v| matches!(v, Some(Ok(_))));
        if seen.is_some_and(|seen| seen != now) && succeeded {
            refresh.update(|n| *n += 1);
        }
        now
    });
}

/// The id in the address (`/organizations/:id/...`).
fn org_id() -> impl Fn() -> String + Clone + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("id").unwrap_or_default())
}

#[component]
pub fn OrgDetail() -> impl IntoView {
    let id = org_id();
    let path = use_location().pathname;
    let refresh = RwSignal::new(0u64);
    provide_context(DetailRefresh(refresh));
    let header = Resource::new(
        {
            let id = id.clone();
            move || (id(), refresh.get())
        },
        |(id, _)| org_header(id),
    );
    provide_context(Frame(header));
    // The tab shown: the last segment of the address when it names one.
    let current = Signal::derive(move || {
        path.with(|p| {
            let last = p
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            TABS.iter()
                .find(|(key, _)| !key.is_empty() && *key == last)
                .map(|(key, _)| key.to_string())
                .unwrap_or_default()
        })
    });
    let title = Signal::derive({
        let id = id.clone();
        move || match header.get() {
            Some(Ok(h)) => format!("ORG{} · {}", h.number, h.name),
            _ => known_org(&id())
                .map(|o| format!("ORG{} · {}", o.number, o.name))
                .unwrap_or_else(|| "Organization".to_string()),
        }
    });
    view! {
        <Modal title close="/organizations">
            <Suspense fallback=|| ()>
                {move || header.get().map(|result| match result {
                    Ok(org) => view! {
                        <div class="mt-1 flex items-center justify-between">
                            <p class="text-sm text-slate-600">{format!("{} · {}", org.slug, if org.active { "Active" } else { "Disabled" })}</p>
                            <A href=format!("/organizations/{}/edit", org.id) attr:class=format!("text-sm font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>"Edit…"</A>
                        </div>
                        <TabNav label="Organization views" tabs=&TABS current base=format!("/organizations/{}", org.id) nested=true />
                    }.into_any(),
                    Err(err) => org_unavailable_body(&id(), err),
                })}
            </Suspense>
            <Outlet />
        </Modal>
    }
}

/// One tab of the org detail view: `load` fetches its data for the org in the address (with
/// the address's query, for a tab that takes one), again after each save inside the view, and
/// `show` renders it. While the org itself cannot be read, the tab shows nothing: the frame
/// says why.
pub fn detail_tab<T, Fut, V>(
    load: impl Fn(String, ParamsMap) -> Fut + Send + Sync + 'static,
    show: impl Fn(String, Result<T, AppError>) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
    V: IntoView + 'static,
{
    let id = org_id();
    let query = leptos_router::hooks::use_query_map();
    let search = use_location().search;
    let refresh = use_context::<DetailRefresh>().map(|DetailRefresh(r)| r);
    let frame = use_context::<Frame>();
    let data = Resource::new(
        {
            let id = id.clone();
            move || {
                (
                    id(),
                    query.get(),
                    search.get(),
                    refresh.map(|r| r.get()).unwrap_or_default(),
                )
            }
        },
        move |(id, query, _, _)| load(id, query),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let framed = frame.is_none_or(|Frame(h)| matches!(h.get(), Some(Ok(_))));
                let data = data.get()?;
                framed.then(|| show(id(), data))
            }}
        </Suspense>
    }
}

/// The org `org_id` as the signed-in user's switcher knows it (not for superadmins and
/// locked client users, who never switch to reach an org).
fn known_org(org_id: &str) -> Option<crate::auth::OrgSummary> {
    use_context::<SessionInfo>()
        .filter(|s| !s.superadmin && !s.locked)
        .and_then(|s| s.orgs.into_iter().find(|o| o.id == org_id))
}

/// A dialog about one org that cannot be read (the edit dialog's).
pub(super) fn org_unavailable(org_id: &str, err: AppError) -> AnyView {
    let title = known_org(org_id)
        .map(|o| format!("ORG{} · {}", o.number, o.name))
        .unwrap_or_else(|| "Organization".to_string());
    let body = org_unavailable_body(org_id, err);
    view! { <Modal title close="/organizations">{body}</Modal> }.into_any()
}

/// What a dialog about one org shows when that org cannot be read. An org admin looking at one
/// of its orgs other than the one it is acting in is offered the switch (the gate takes one org
/// per request); a plain form, so the whole page reloads in the new org.
fn org_unavailable_body(org_id: &str, err: AppError) -> AnyView {
    let known = known_org(org_id);
    if let Some(org) = known.clone().filter(|o| !o.active) {
        return view! {
            <p role="alert" class="mt-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800">
                {format!("{} is disabled: nobody can work in it, and its data is kept. Only a platform superadmin can enable it again.", org.name)}
            </p>
        }
        .into_any();
    }
    let session = use_context::<SessionInfo>();
    let acting_in = session.as_ref().and_then(|s| s.active_org.as_ref());
    let other = known
        .filter(|o| acting_in.is_none_or(|a| a.id != o.id))
        .map(|o| (o, acting_in.map(|a| a.name.clone())));
    let Some((org, acting_in)) = other else {
        return view! {
            <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
        }
        .into_any();
    };
    let location = use_location();
    let next = format!(
        "{}{}",
        location.pathname.get_untracked(),
        location.search.get_untracked()
    );
    let next = if next.is_empty() {
        format!("/organizations/{org_id}")
    } else {
        next
    };
    view! {
        <p class="mt-3 text-sm text-slate-700" data-testid="switch-prompt">
            {format!(
                "You are working in {}. Switch to {} to manage it: the Admin App then shows its data, and the header names it.",
                acting_in.unwrap_or_else(|| "no organization".to_string()),
                org.name,
            )}
        </p>
        <form method="post" action="/api/auth/switch_org" class="mt-6 flex justify-end gap-3">
            <input type="hidden" name="org_id" value=org.id.clone() />
            <input type="hidden" name="next" value=next />
            <A href="/organizations" attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
            <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>{format!("Switch to {}", org.name)}</button>
        </form>
    }
    .into_any()
}

/// A dashed box for a tab with nothing to show yet.
pub fn placeholder(text: &str) -> impl IntoView {
    view! {
        <div class="mt-4 rounded-lg border border-dashed border-slate-300 p-8 text-center text-sm text-slate-600" data-testid="placeholder">
            {text.to_string()}
        </div>
    }
}

/// A tab's data could not be read: why, in place of the tab.
pub fn tab_error(err: AppError) -> AnyView {
    view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any()
}

/// The Overview tab (`/organizations/:id`): the org's details and its health.
#[component]
pub fn OverviewTab() -> impl IntoView {
    detail_tab(
        |id, _| org_overview(id),
        |_, result| match result {
            Ok(OrgOverviewData {
                org,
                allowances,
                plan,
                created_at,
                created_by,
                recently_signed_in,
                last_sign_in,
                resources,
            }) => {
                let members = org.members;
                let created = vec![
                    ("Created by", created_by),
                    (
                        "Created at",
                        created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    ),
                ];
                view! {
                    <Details org created />
                    <Health allowances plan members recently_signed_in last_sign_in />
                    <Resources resources />
                }
            }
            .into_any(),
            Err(err) => tab_error(err),
        },
    )
}

#[component]
fn Details(org: Organization, created: Vec<(&'static str, String)>) -> impl IntoView {
    let product = PRODUCTS
        .iter()
        .find(|(v, _)| *v == org.details.product)
        .map(|(_, l)| *l)
        .unwrap_or("—");
    let subscription = org
        .subscription
        .as_ref()
        .map(|s| {
            format!(
                "{} · {} seat(s) · {}",
                s.plan_name,
                s.seats,
                s.status.replace('_', " ")
            )
        })
        .unwrap_or_else(|| "None".to_string());
    let d = &org.details;
    let address = [
        &d.address_line1,
        &d.address_line2,
        &d.city,
        &d.state,
        &d.zip,
        &d.country,
    ]
    .iter()
    .filter(|p| !p.is_empty())
    .map(|p| p.as_str())
    .collect::<Vec<_>>()
    .join(", ");
    let or_dash = |value: &str| {
        if value.is_empty() {
            "—".to_string()
        } else {
            value.to_string()
        }
    };
    let status = if org.status == "active" {
        "Active"
    } else {
        "Disabled (inactive)"
    };
    let items = [
        ("Status", status.to_string()),
        ("Domain", or_dash(&d.domain)),
        ("Product", product.to_string()),
        ("Members", org.members.to_string()),
        ("Installed products", org.products.to_string()),
        ("Subscription", subscription),
        (
            "Custom roles",
            org.roles.iter().filter(|r| !r.builtin).count().to_string(),
        ),
        (
            "Address",
            if address.is_empty() {
                "—".to_string()
            } else {
                address
            },
        ),
        ("Description", or_dash(&d.description)),
        ("Contact email", or_dash(&d.contact_email)),
        ("Contact phone", or_dash(&d.contact_phone)),
        ("Schema", org.schema.clone()),
    ]
    .into_iter()
    .chain(created);
    view! {
        <dl class="mt-4 grid grid-cols-1 gap-4 text-sm sm:grid-cols-2" data-testid="org-overview">
            {items.map(|(label, value)| view! {
                <div>
                    <dt class="text-slate-500">{label}</dt>
                    <dd class="font-medium break-words">{value}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
}

/// The org's own resources in the data stores, each with its state.
#[component]
fn Resources(resources: Vec<super::Resource>) -> impl IntoView {
    if resources.is_empty() {
        return ().into_any();
    }
    let badge = |status: &str| match status {
        "ready" => "bg-emerald-50 text-emerald-800",
        "provisioning" => "bg-sky-50 text-sky-800",
        _ => "bg-red-50 text-red-800",
    };
    view! {
        <section class="mt-8" aria-labelledby="resources-title" data-testid="org-resources">
            <h3 id="resources-title" class="text-sm font-semibold text-slate-900">"Isolated resources"</h3>
            <p class="mt-1 text-sm text-slate-500">"The organization's own space in each data store; no other organization's credentials reach it."</p>
            <table class="mt-3 w-full text-left text-sm">
                <thead class="text-xs uppercase text-slate-500">
                    <tr>
                        <th scope="col" class="py-2 pr-4 font-medium">"Store"</th>
                        <th scope="col" class="py-2 pr-4 font-medium">"Resource"</th>
                        <th scope="col" class="py-2 pr-4 font-medium">"State"</th>
                        <th scope="col" class="py-2 font-medium">"Details"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {resources.into_iter().map(|r| view! {
                        <tr data-testid="org-resource">
                            <td class="py-2 pr-4 font-medium">{r.store.clone()}</td>
                            <td class="py-2 pr-4 font-mono text-xs text-slate-600">{r.name.clone()}</td>
                            <td class="py-2 pr-4">
                                <span class=format!("rounded px-1.5 py-0.5 text-xs font-medium {}", badge(&r.status))>
                                    {r.status.clone()}
                                </span>
                            </td>
                            <td class="py-2 text-slate-600">{r.detail.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// The org's health signals, each healthy or concerning: its members' sign-ins ("active
/// users") and its allowances ("allowance pressure"), over the allowance bars.
#[component]
fn Health(
    allowances: Vec<crate::billing::Allowance>,
    plan: String,
    members: i32,
    recently_signed_in: i64,
    last_sign_in: Option<chrono::DateTime<chrono::Utc>>,
) -> impl IntoView {
    let pressed: Vec<String> = allowances
        .iter()
        .filter_map(|a| {
            a.percent()
                .filter(|p| *p >= 80)
                .map(|p| format!("{} at {p}%", a.label().to_lowercase()))
        })
        .collect();
    let allowance = if pressed.is_empty() {
        ("healthy", "Every allowance has room.".to_string())
    } else {
        (
            "concerning",
            format!("Allowance pressure: {}.", pressed.join(", ")),
        )
    };
    let last = last_sign_in
        .map(|at| format!("the last on {}", at.format("%Y-%m-%d")))
        .unwrap_or_else(|| "none ever".to_string());
    let users = match (members, recently_signed_in) {
        (0, _) => ("neutral", "No members yet.".to_string()),
        (_, 0) => ("concerning", format!("No logins in 30+ days ({last}).")),
        (m, n) => (
            "healthy",
            format!("{n} of {m} member(s) signed in within 30 days."),
        ),
    };
    let class = |state: &str| match state {
        "healthy" => "bg-emerald-50 text-emerald-800",
        "concerning" => "bg-amber-50 text-amber-800",
        _ => "bg-slate-50 text-slate-700",
    };
    view! {
        <section class="mt-6" aria-labelledby="health-title">
            <h3 id="health-title" class="text-sm font-semibold text-slate-900">"Health"</h3>
            <ul class="mt-2 space-y-2 text-sm" data-testid="org-health">
                {[("Active users", users), ("AI allowance", allowance)].into_iter().map(|(label, (state, text))| view! {
                    <li class=format!("flex gap-2 rounded-md px-3 py-2 {}", class(state)) data-testid="health-signal" data-state=state>
                        <span class="font-medium">{format!("{label}:")}</span>
                        <span>{text}</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
        <crate::billing::Allowances allowances plan />
    }
}
