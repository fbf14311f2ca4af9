//! The Organizations page: summary cards, product filter, search, a sortable and paginated
//! table, and the New Organization dialog. The view lives in the URL (`?q=…&product=…&sort=…
//! &dir=…&page=…`), so it can be linked and reloaded, and every control is a link or a plain
//! form: the page works before hydration and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Form, Outlet, A},
    hooks::{use_location, use_query_map},
};

use super::{CreateOrg, OrgPage, OrgQuery, OrgRow, PAGE_SIZE, PRODUCTS, SORT_COLUMNS};
use crate::{
    auth::{submission_error, SessionInfo},
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Modal, Pager, Toast,
    },
    AppError,
};

/// The view the URL describes.
fn use_org_query() -> Memo<OrgQuery> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .with(|q| OrgQuery {
                q: q.get("q").unwrap_or_default(),
                product: q.get("product").unwrap_or_default(),
                sort: q.get("sort").unwrap_or_default(),
                dir: q.get("dir").unwrap_or_default(),
                page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
            })
            .normalized()
    })
}

fn product_label(value: &str) -> &'static str {
    PRODUCTS
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, label)| *label)
        .unwrap_or("Unknown")
}

#[component]
pub fn OrganizationsPage() -> impl IntoView {
    let query = use_org_query();
    // Keyed on the whole query string too: after a create, `?created=…` reloads the list.
    let search = use_location().search;
    let page = Resource::new(
        move || (query.get(), search.get()),
        |(query, _)| list_page(query),
    );
    // The confirmation a finished action redirected here with.
    let notice = move || {
        use_query_map().with(|q| {
            [
                ("created", "created"),
                ("disabled", "disabled"),
                ("enabled", "enabled"),
                ("deleted", "deleted"),
            ]
            .into_iter()
            .find_map(|(key, verb)| {
                q.get(key)
                    .map(|name| format!("Organization “{name}” {verb}."))
            })
        })
    };
    view! {
        <Title text="Organizations" />
        <div class="mx-auto max-w-7xl">
            <crate::domains::DomainConflictBanner />
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading organizations…"</p> }>
                {move || page.get().map(|result| match result {
                    Ok(page) => view! { <OrgsView page notice=notice() /> }.into_any(),
                    Err(err) => view! {
                        <p role="alert" class="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
                            {err.to_string()}
                        </p>
                    }.into_any(),
                })}
            </Transition>
        </div>
        <Outlet />
    }
}

async fn list_page(query: OrgQuery) -> Result<OrgPage, AppError> {
    super::list_orgs(query).await
}

#[component]
fn OrgsView(page: OrgPage, notice: Option<String>) -> impl IntoView {
    let query = page.query.clone();
    let new_href = format!(
        "/organizations/new{}",
        query
            .href()
            .strip_prefix("/organizations")
            .unwrap_or_default()
    );
    view! {
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight">"Organizations"</h1>
                <p class="mt-1 text-sm text-slate-600">
                    {if page.can_create {
                        "Every organization on the platform."
                    } else {
                        "The organizations you own or administer."
                    }}
                </p>
            </div>
            {page.can_create.then(|| view! {
                <A href=new_href attr:class=format!("{PRIMARY} {FOCUS_RING}")>"New Organization"</A>
            })}
        </div>
        {notice.map(|text| view! { <Toast text /> })}
        <SummaryCards page=page.clone() />
        <Filters query=query.clone() />
        {if page.counts.total == 0 {
            view! {
                <EmptyState
                    title="No organizations yet"
                    body=if page.can_create {
                        "Create the first organization to give a customer its own isolated workspace."
                    } else {
                        "You do not own or administer any organization."
                    }
                />
            }.into_any()
        } else if page.rows.is_empty() {
            view! {
                <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="empty-filtered">
                    <h2 class="text-base font-semibold">"No organizations match this view"</h2>
                    <p class="mt-1 text-sm text-slate-600">"Try another search or product, or clear the filters."</p>
                    <A href="/organizations" attr:class=format!("mt-4 {SECONDARY} {FOCUS_RING}")>"Clear filters"</A>
                </div>
            }.into_any()
        } else {
            view! { <OrgTable page=page.clone() /> <Pagination page /> }.into_any()
        }}
    }
}

#[component]
fn SummaryCards(page: OrgPage) -> impl IntoView {
    let c = &page.counts;
    let cards = [
        ("Total organizations", c.total, "text-slate-900"),
        ("Active subscriptions", c.active, "text-emerald-700"),
        ("Trialing", c.trialing, "text-sky-700"),
        ("Past due", c.past_due, "text-amber-700"),
        ("Cancelled", c.cancelled, "text-rose-700"),
        ("No subscription", c.no_subscription, "text-slate-500"),
    ];
    view! {
        <ul class="mt-6 grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6" aria-label="Summary" data-testid="summary-cards">
            {cards.into_iter().map(|(label, value, color)| view! {
                <li class="rounded-lg border border-slate-200 bg-white px-4 py-3 shadow-sm">
                    <p class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</p>
                    <p class=format!("mt-1 text-2xl font-semibold tabular-nums {color}")>{value}</p>
                </li>
            }).collect_view()}
        </ul>
    }
}

#[component]
fn Filters(query: OrgQuery) -> impl IntoView {
    let chip = {
        let query = query.clone();
        move |value: &'static str, label: &'static str| {
            let selected = query.product == value;
            let href = OrgQuery {
                product: value.to_string(),
                page: 1,
                ..query.clone()
            }
            .href();
            view! {
                <li>
                    <A
                        href=href
                        attr:aria-current=selected.then_some("true")
                        attr:class=format!(
                            "inline-block rounded-full border px-3 py-1 text-sm {FOCUS_RING} {}",
                            if selected {
                                "border-indigo-600 bg-indigo-600 text-white"
                            } else {
                                "border-slate-300 bg-white text-slate-700 hover:bg-slate-50"
                            },
                        )
                    >
                        {label}
                    </A>
                </li>
            }
        }
    };
    view! {
        <div class="mt-6 flex flex-col gap-3 lg:flex-row lg:items-center lg:justify-between">
            <ul class="flex flex-wrap gap-2" aria-label="Product filter">
                {chip("", "All products")}
                {PRODUCTS.iter().map(|(value, label)| chip(value, label)).collect_view()}
            </ul>
            <Form method="GET" action="/organizations" attr:class="flex gap-2" attr:role="search">
                <label for="org-search" class="sr-only">"Search organizations"</label>
                <input
                    id="org-search"
                    type="search"
                    name="q"
                    value=query.q.clone()
                    placeholder="Search name, slug or domain"
                    class="w-64 rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500"
                />
                {(!query.product.is_empty()).then(|| view! {
                    <input type="hidden" name="product" value=query.product.clone() />
                })}
                <input type="hidden" name="sort" value=query.sort.clone() />
                <input type="hidden" name="dir" value=query.dir.clone() />
                <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Search"</button>
            </Form>
        </div>
    }
}

#[component]
fn OrgTable(page: OrgPage) -> impl IntoView {
    let query = page.query.clone();
    let header = move |key: &'static str, label: &'static str| {
        let active = query.sort == key;
        let next_dir = if active && query.dir == "asc" {
            "desc"
        } else {
            "asc"
        };
        let href = OrgQuery {
            sort: key.to_string(),
            dir: next_dir.to_string(),
            page: 1,
            ..query.clone()
        }
        .href();
        let aria_sort = match (active, query.dir.as_str()) {
            (true, "asc") => "ascending",
            (true, _) => "descending",
            _ => "none",
        };
        let arrow = match (active, query.dir.as_str()) {
            (true, "asc") => "▲",
            (true, _) => "▼",
            _ => "",
        };
        view! {
            <th scope="col" aria-sort=aria_sort class="whitespace-nowrap px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                <A href=href attr:class=format!("inline-flex items-center gap-1 rounded hover:text-slate-900 {FOCUS_RING}")>
                    {label}
                    <span aria-hidden="true" class="text-[10px]">{arrow}</span>
                </A>
            </th>
        }
    };
    view! {
        <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="orgs-table">
                <thead class="bg-slate-50">
                    <tr>{SORT_COLUMNS.iter().map(|(key, label)| header(key, label)).collect_view()}</tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {page.rows.into_iter().map(row).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn badge(text: String, tone: &str) -> impl IntoView {
    view! { <span class=format!("inline-flex rounded-full px-2 py-0.5 text-xs font-medium {tone}")>{text}</span> }
}

fn row(org: OrgRow) -> impl IntoView {
    let status_tone = if org.status == "active" {
        "bg-emerald-50 text-emerald-700"
    } else {
        "bg-slate-100 text-slate-600"
    };
    let subscription = match org.subscription.as_deref() {
        None => badge("None".to_string(), "bg-slate-100 text-slate-500").into_any(),
        Some(status) => {
            let tone = match status {
                "active" => "bg-emerald-50 text-emerald-700",
                "trialing" => "bg-sky-50 text-sky-700",
                "past_due" => "bg-amber-50 text-amber-800",
                _ => "bg-rose-50 text-rose-700",
            };
            let label = match status {
                "past_due" => "Past due".to_string(),
                other => {
                    let mut s = other.to_string();
                    s[..1].make_ascii_uppercase();
                    s
                }
            };
            view! {
                <span class="flex flex-col gap-0.5">
                    {badge(label, tone)}
                    <span class="text-xs text-slate-500">{org.plan.clone().unwrap_or_default()}</span>
                </span>
            }
            .into_any()
        }
    };
    let edit_title = format!("Open {}", org.name);
    let products_label = format!("Manage {}'s products", org.name);
    view! {
        <tr class="whitespace-nowrap hover:bg-slate-50" data-testid="org-row">
            <td class="whitespace-nowrap px-3 py-2 font-mono text-xs text-slate-600">{format!("ORG{}", org.number)}</td>
            <td class="max-w-[20rem] px-3 py-2">
                <A href=format!("/organizations/{}", org.id)
                    attr:class=format!("block truncate font-medium text-slate-900 hover:text-indigo-600 {FOCUS_RING}")
                    attr:title=edit_title attr:data-testid="org-name">
                    {org.name.clone()}
                </A>
                <div class="truncate text-xs text-slate-500">
                    {org.slug.clone()}
                    {(!org.domain.is_empty()).then(|| format!(" · {}", org.domain))}
                </div>
            </td>
            <td class="whitespace-nowrap px-3 py-2">{product_label(&org.product)}</td>
            <td class="px-3 py-2">
                {badge(if org.status == "active" { "Active" } else { "Disabled" }.to_string(), status_tone)}
            </td>
            <td class="px-3 py-2">{subscription}</td>
            <td class="px-3 py-2 text-slate-600">
                {if org.template.is_empty() { "—".to_string() } else { org.template.clone() }}
            </td>
            <td class="px-3 py-2 tabular-nums">
                <span class="inline-flex items-center gap-2">
                    {org.installed_products}
                    // The product management dialog: the detail view's Products tab.
                    <A href=format!("/organizations/{}/products", org.id)
                        attr:class=format!("rounded p-0.5 text-slate-500 hover:bg-slate-100 hover:text-indigo-600 {FOCUS_RING}")
                        attr:aria-label=products_label
                        attr:title="Manage products" attr:data-testid="org-products-link">
                        <svg aria-hidden="true" viewBox="0 0 20 20" fill="none" stroke="currentColor" stroke-width="1.5" class="h-4 w-4">
                            <path d="M3 6.5 10 3l7 3.5v7L10 17l-7-3.5v-7Z" />
                            <path d="M3 6.5 10 10l7-3.5M10 10v7" />
                        </svg>
                    </A>
                </span>
            </td>
            <td class="px-3 py-2 tabular-nums">{org.users}</td>
            <td class="whitespace-nowrap px-3 py-2 tabular-nums text-slate-600">
                <time datetime=org.created_at.to_rfc3339()>{org.created_at.format("%Y-%m-%d").to_string()}</time>
            </td>
        </tr>
    }
}

#[component]
fn Pagination(page: OrgPage) -> impl IntoView {
    let query = page.query.clone();
    let pages = (page.matching + PAGE_SIZE - 1) / PAGE_SIZE;
    let first = (query.page - 1) * PAGE_SIZE + 1;
    let last = (first + page.rows.len() as i64 - 1).max(first);
    let info = format!(
        "Showing {first}–{last} of {} · page {} of {}",
        page.matching,
        query.page,
        pages.max(1)
    );
    let current = query.page;
    let href = move |target: i64| {
        OrgQuery {
            page: target,
            ..query.clone()
        }
        .href()
    };
    view! { <Pager info testid="page-info" page=current pages href /> }
}

#[component]
fn EmptyState(title: &'static str, body: &'static str) -> impl IntoView {
    view! {
        <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="empty-state">
            <h2 class="text-base font-semibold">{title}</h2>
            <p class="mt-1 text-sm text-slate-600">{body}</p>
        </div>
    }
}

/// The New Organization dialog, at `/organizations/new` over the list: a real address, so it
/// opens without JavaScript too. Escape or Cancel goes back to the list.
#[component]
pub fn NewOrgDialog() -> impl IntoView {
    let action = ServerAction::<CreateOrg>::new();
    let error = submission_error(action);
    let query = use_org_query();
    let back = move || query.get_untracked().href();
    if !use_context::<SessionInfo>().is_some_and(|s| s.superadmin) {
        // The server refuses it too; nobody is handed a form that can only fail.
        return view! {
            <Modal title="New Organization".to_string() close=back()>
                <p role="alert" class="mt-3 text-sm text-slate-700" data-testid="create-refused">
                    "Only a platform superadmin can create organizations; ask yours to create one for you."
                </p>
                <div class="mt-6 flex justify-end">
                    <A href=back() attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Back to organizations"</A>
                </div>
            </Modal>
        }
        .into_any();
    }
    view! {
        <Modal title="New Organization".to_string() close=back()>
                <p class="mt-1 text-sm text-slate-600">
                    "Creating an organization provisions its isolated schema at once."
                </p>
                <ActionForm action=action attr:class="mt-6 space-y-4" attr:novalidate=true>
                    {form_alert(error)}
                    <div>
                        <label for="org-name" class="block text-sm font-medium">"Name"</label>
                        <input id="org-name" name="org[name]" required autofocus class=INPUT aria-invalid=invalid(error, "name") />
                        <FieldError error field="name" />
                    </div>
                    <div>
                        <label for="org-domain" class="block text-sm font-medium">"Domain"</label>
                        <input id="org-domain" name="org[domain]" required placeholder="example.com" class=INPUT aria-invalid=invalid(error, "domain") />
                        <FieldError error field="domain" />
                    </div>
                    <div class="grid grid-cols-2 gap-4">
                        <div>
                            <label for="org-product" class="block text-sm font-medium">"Product"</label>
                            <select id="org-product" name="org[product]" required class=INPUT aria-invalid=invalid(error, "product")>
                                <option value="" selected=true disabled=true>"Choose…"</option>
                                {PRODUCTS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                            </select>
                            <FieldError error field="product" />
                        </div>
                        <div>
                            <label for="org-status" class="block text-sm font-medium">"Status"</label>
                            <select id="org-status" name="org[status]" required class=INPUT aria-invalid=invalid(error, "status")>
                                <option value="active" selected=true>"Active"</option>
                                <option value="disabled">"Disabled"</option>
                            </select>
                            <FieldError error field="status" />
                        </div>
                    </div>
                    <div>
                        <label for="org-template" class="block text-sm font-medium">"Template"</label>
                        <select id="org-template" name="org[template]" class=INPUT aria-invalid=invalid(error, "template") aria-describedby="org-template-hint">
                            <option value="" selected=true>"None: install products later"</option>
                            {crate::products::TEMPLATES.iter().map(|(value, label, products)| {
                                let names: Vec<&str> = products.iter().map(|p| PRODUCTS.iter().find(|(k, _)| k == p).map(|(_, l)| *l).unwrap_or(p)).collect();
                                let text = if names.is_empty() { format!("{label}: nothing installed") } else { format!("{label}: {}", names.join(", ")) };
                                view! { <option value=*value>{text}</option> }
                            }).collect_view()}
                        </select>
                        <p id="org-template-hint" class="mt-1 text-xs text-slate-500">"A template's products are installed as the organization is made; follow them in its Products tab."</p>
                        <FieldError error field="template" />
                    </div>
                    <div class="flex justify-end gap-3 pt-2">
                        <A href=back() attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                        <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || action.pending().get()>
                            {move || if action.pending().get() { "Creating…" } else { "Create organization" }}
                        </button>
                    </div>
                </ActionForm>
        </Modal>
    }
    .into_any()
}
