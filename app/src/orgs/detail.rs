//! The org detail view (`/organizations/:id?tab=overview|members|agents|billing|products`):
//! what an admin checks first about one org, and the places later capabilities fill in.

use leptos::prelude::*;
use leptos_router::{
    components::A,
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{org_detail, Organization, TabData, PRODUCTS};
use crate::{
    agents::OrgAgentsTab,
    auth::SessionInfo,
    billing::BillingTabView,
    credentials::CredentialsTab,
    members::UserRow,
    ui::{
        style::{FOCUS_RING, PRIMARY, SECONDARY},
        Modal, TabNav,
    },
    AppError,
};

const TABS: [(&str, &str); 6] = [
    ("overview", "Overview"),
    ("members", "Members"),
    ("agents", "Agents"),
    ("credentials", "Credentials"),
    ("billing", "Billing & Costs"),
    ("products", "Products"),
];

/// Bumped after a save inside the detail view, so the view refetches even when the save
/// redirects to the very address it came from (the router then sees no change).
#[derive(Clone, Copy)]
pub struct DetailRefresh(RwSignal<u64>);

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

#[component]
pub fn OrgDetail() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let month = move || query.with(|q| q.get("month").unwrap_or_default());
    let tab = move || {
        query
            .with(|q| q.get("tab"))
            .filter(|t| TABS.iter().any(|(k, _)| k == t))
            .unwrap_or_else(|| "overview".to_string())
    };
    let search = use_location().search;
    let refresh = RwSignal::new(0u64);
    provide_context(DetailRefresh(refresh));
    // The org and the open tab's data from one server function: a tab with a resource of its
    // own, inside this Suspense, did not hydrate after a direct load.
    let org = Resource::new(
        move || (id(), tab(), month(), search.get(), refresh.get()),
        |(id, tab, month, _, _)| org_detail(id, tab, month),
    );
    view! {
        <Suspense fallback=|| ()>
            {move || org.get().map(|result| match result {
                Ok((org, data)) => {
                    let current = tab();
                    let title = format!("ORG{} · {}", org.number, org.details.name);
                    view! {
                        <Modal title close="/organizations">
                            <div class="mt-1 flex items-center justify-between">
                                <p class="text-sm text-slate-600">{format!("{} · {}", org.slug, if org.status == "active" { "Active" } else { "Disabled" })}</p>
                                <A href=format!("/organizations/{}/edit", org.id) attr:class=format!("text-sm font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>"Edit…"</A>
                            </div>
                            <TabNav label="Organization views" tabs=&TABS current=current.clone() base=format!("/organizations/{}", org.id) />
                            {match current.as_str() {
                                "members" => match data {
                                    TabData::Members(members) => view! { <MembersTab members /> }.into_any(),
                                    _ => ().into_any(),
                                },
                                "credentials" => match data {
                                    TabData::Credentials(tab) => view! {
                                        <CredentialsTab org_id=org.id.clone() tab />
                                    }.into_any(),
                                    _ => ().into_any(),
                                },
                                "agents" => match data {
                                    TabData::Agents(agents) => view! {
                                        <OrgAgentsTab org_id=org.id.clone() agents />
                                    }.into_any(),
                                    _ => ().into_any(),
                                },
                                "billing" => match data {
                                    TabData::Billing(tab) => view! {
                                        <BillingTabView org_id=org.id.clone() tab />
                                    }.into_any(),
                                    _ => ().into_any(),
                                },
                                "products" => placeholder(&format!("{} product(s) installed. Installing and uninstalling products comes with the products capability.", org.products)).into_any(),
                                _ => view! {
                                    <OverviewTab org=org.clone() />
                                    {match data {
                                        TabData::Overview(Ok((allowances, plan))) => view! { <Health allowances plan /> }.into_any(),
                                        _ => ().into_any(),
                                    }}
                                }.into_any(),
                            }}
                        </Modal>
                    }.into_any()
                }
                Err(err) => org_unavailable(&id(), err),
            })}
        </Suspense>
    }
}

/// What a dialog about one org shows when that org cannot be read. An org admin looking at one
/// of its orgs other than the one it is acting in is offered the switch (the gate takes one org
/// per request); a plain form, so the whole page reloads in the new org.
pub(super) fn org_unavailable(org_id: &str, err: AppError) -> AnyView {
    let session = use_context::<SessionInfo>();
    let known = session
        .as_ref()
        .filter(|s| !s.superadmin && !s.locked)
        .and_then(|s| s.orgs.iter().find(|o| o.id == org_id).cloned());
    if let Some(org) = known.clone().filter(|o| !o.active) {
        let title = format!("ORG{} · {}", org.number, org.name);
        return view! {
            <Modal title close="/organizations">
                <p role="alert" class="mt-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800">
                    {format!("{} is disabled: nobody can work in it, and its data is kept. Only a platform superadmin can enable it again.", org.name)}
                </p>
            </Modal>
        }
        .into_any();
    }
    let acting_in = session.as_ref().and_then(|s| s.active_org.as_ref());
    let other = known
        .filter(|o| acting_in.is_none_or(|a| a.id != o.id))
        .map(|o| (o, acting_in.map(|a| a.name.clone())));
    let Some((org, acting_in)) = other else {
        return view! {
            <Modal title="Organization".to_string() close="/organizations">
                <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
            </Modal>
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
        <Modal title=format!("ORG{} · {}", org.number, org.name) close="/organizations">
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
        </Modal>
    }
    .into_any()
}

fn placeholder(text: &str) -> impl IntoView {
    view! {
        <div class="mt-4 rounded-lg border border-dashed border-slate-300 p-8 text-center text-sm text-slate-600" data-testid="placeholder">
            {text.to_string()}
        </div>
    }
}

#[component]
fn OverviewTab(org: Organization) -> impl IntoView {
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
    let items = [
        (
            "Domain",
            if d.domain.is_empty() {
                "—".to_string()
            } else {
                d.domain.clone()
            },
        ),
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
        ("Schema", org.schema.clone()),
    ];
    view! {
        <dl class="mt-4 grid grid-cols-1 gap-4 text-sm sm:grid-cols-2" data-testid="org-overview">
            {items.into_iter().map(|(label, value)| view! {
                <div>
                    <dt class="text-slate-500">{label}</dt>
                    <dd class="font-medium break-words">{value}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
}

#[component]
fn MembersTab(members: Result<Vec<UserRow>, AppError>) -> impl IntoView {
    view! {
            {match members {
                Ok(rows) if rows.is_empty() => placeholder("No members yet. Add users from the Users page.").into_any(),
                Ok(rows) => view! {
                    <ul class="mt-4 divide-y divide-slate-100 rounded-md border border-slate-200 text-sm" data-testid="org-members">
                        {rows.into_iter().map(|u| {
                            let m = u.memberships.first().cloned();
                            view! {
                                <li class="flex items-center justify-between px-3 py-2">
                                    <span>
                                        <A href=format!("/users/{}", u.id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}")>{u.name.clone()}</A>
                                        <span class="ml-2 text-xs text-slate-500">{u.email.clone()}</span>
                                    </span>
                                    <span class="text-xs text-slate-600">
                                        {m.map(|m| format!("{} · {}", if m.role == "member" { "user".to_string() } else { m.role.clone() }, m.label()))}
                                    </span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Err(err) => view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
            }}
    }
}

/// Allowance pressure: a one-line verdict over the allowance bars.
#[component]
fn Health(allowances: Vec<crate::billing::Allowance>, plan: String) -> impl IntoView {
    let pressed: Vec<String> = allowances
        .iter()
        .filter_map(|a| {
            a.percent()
                .filter(|p| *p >= 80)
                .map(|p| format!("{} at {p} %", a.label().to_lowercase()))
        })
        .collect();
    let (text, class) = if pressed.is_empty() {
        (
            "Healthy: every allowance has room.".to_string(),
            "bg-emerald-50 text-emerald-800",
        )
    } else {
        (
            format!("Allowance pressure: {}.", pressed.join(", ")),
            "bg-amber-50 text-amber-800",
        )
    };
    view! {
        <p class=format!("mt-6 rounded-md px-3 py-2 text-sm {class}") data-testid="org-health">{text}</p>
        <crate::billing::Allowances allowances plan />
    }
}
