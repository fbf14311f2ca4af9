//! The Users page (`/users?q=&status=&page=`), the New User dialog (`/users/new`) and the user
//! dialog with the permission editor (`/users/:id`). Links and plain forms throughout, so all of
//! it works before hydration and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Form, Outlet, A},
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{
    get_user, list_users, CreateUser, SetMembership, UpdateUser, UserPage, UserQuery, UserRow,
    PAGE_SIZE,
};
use crate::{
    auth::submission_error,
    orgs::role_label,
    tenancy::access::Section,
    ui::{
        form_alert as alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Modal, Pager, Toast,
    },
    AppError,
};

fn use_user_query() -> Memo<UserQuery> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .with(|q| UserQuery {
                q: q.get("q").unwrap_or_default(),
                status: q.get("status").unwrap_or_default(),
                page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
            })
            .normalized()
    })
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_user_query();
    // Reload after a dialog saved (it navigates to /users/:id?saved=…) and when it closes. Not
    // keyed on the path: during server rendering that changes once more, and a second fetch
    // outside the request's context would ship a different value than the one rendered.
    let search = use_location().search;
    let page = Resource::new(
        move || (query.get(), search.get()),
        |(query, _)| list_users(query),
    );
    view! {
        <Title text="Users" />
        <div class="mx-auto max-w-7xl">
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading users…"</p> }>
                {move || page.get().map(|result| match result {
                    Ok(page) => view! { <UsersView page /> }.into_any(),
                    Err(err) => view! {
                        <p role="alert" class="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
                    }.into_any(),
                })}
            </Transition>
        </div>
        <Outlet />
    }
}

#[component]
fn UsersView(page: UserPage) -> impl IntoView {
    let query = page.query.clone();
    let status_link = move |value: &'static str, label: &'static str| {
        let selected = query.status == value;
        let href = UserQuery {
            status: value.to_string(),
            page: 1,
            ..query.clone()
        }
        .href();
        view! {
            <li>
                <A href=href attr:aria-current=selected.then_some("true")
                    attr:class=format!("inline-block rounded-full border px-3 py-1 text-sm {FOCUS_RING} {}",
                        if selected { "border-indigo-600 bg-indigo-600 text-white" }
                        else { "border-slate-300 bg-white text-slate-700 hover:bg-slate-50" })>
                    {label}
                </A>
            </li>
        }
    };
    let pages = (page.matching + PAGE_SIZE - 1) / PAGE_SIZE;
    let q = page.query.clone();
    let page_href = move |target: i64| {
        UserQuery {
            page: target,
            ..q.clone()
        }
        .href()
    };
    let subtitle = if page.all_orgs {
        "Every user on the platform.".to_string()
    } else {
        format!("Members of {}.", page.org_name.clone().unwrap_or_default())
    };
    view! {
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight">"Users"</h1>
                <p class="mt-1 text-sm text-slate-600">{subtitle}</p>
            </div>
            {page.org_id.clone().map(|org_id| {
                let active = page.org_active;
                view! {
                    <div class="flex flex-wrap items-center gap-3">
                        // The org's enabled state, toggled from here (with a confirmation).
                        <span class="flex items-center gap-2 text-sm" data-testid="users-org-status">
                            <span class=if active { "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700" } else { "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600" }>
                                {if active { "Organization enabled" } else { "Organization disabled" }}
                            </span>
                            <A href=format!("/organizations/{org_id}/confirm/{}", if active { "disable" } else { "enable" })
                                attr:class=format!("{SECONDARY} {FOCUS_RING}")>
                                {if active { "Disable organization…" } else { "Enable organization…" }}
                            </A>
                        </span>
                        <A href="/users/new" attr:class=format!("{PRIMARY} {FOCUS_RING}")>"New User"</A>
                    </div>
                }
            })}
        </div>
        <div class="mt-6 flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
            <ul class="flex gap-2" aria-label="Status filter">
                {status_link("", "All")}
                {status_link("active", "Active")}
                {status_link("disabled", "Disabled")}
            </ul>
            <Form method="GET" action="/users" attr:class="flex gap-2" attr:role="search">
                <label for="user-search" class="sr-only">"Search users"</label>
                <input id="user-search" type="search" name="q" value=page.query.q.clone()
                    placeholder="Search name or email"
                    class="w-64 rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500" />
                {(!page.query.status.is_empty()).then(|| view! { <input type="hidden" name="status" value=page.query.status.clone() /> })}
                <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Search"</button>
            </Form>
        </div>
        {if page.rows.is_empty() {
            view! {
                <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="users-empty">
                    <h2 class="text-base font-semibold">"No users match this view"</h2>
                    <p class="mt-1 text-sm text-slate-600">"Try another search or status."</p>
                </div>
            }.into_any()
        } else {
            view! {
                <div class="mt-4 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
                    <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="users-table">
                        <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                            <tr>
                                <th scope="col" class="px-3 py-2">"User"</th>
                                <th scope="col" class="px-3 py-2">"Status"</th>
                                <th scope="col" class="px-3 py-2">"Organizations and roles"</th>
                                <th scope="col" class="px-3 py-2">"Last sign-in"</th>
                            </tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {page.rows.into_iter().map(user_row).collect_view()}
                        </tbody>
                    </table>
                </div>
                <Pager
                    info=format!("{} user(s) · page {} of {}", page.matching, page.query.page, pages.max(1))
                    testid="users-page-info"
                    page=page.query.page
                    pages
                    href=page_href
                />
            }.into_any()
        }}
    }
}

fn user_row(user: UserRow) -> impl IntoView {
    let active = user.status == "active";
    view! {
        <tr class="hover:bg-slate-50" data-testid="user-row">
            <td class="px-3 py-2">
                <A href=format!("/users/{}", user.id) attr:class=format!("font-medium text-slate-900 hover:text-indigo-600 {FOCUS_RING}") attr:data-testid="user-name">
                    {user.name.clone()}
                </A>
                <div class="text-xs text-slate-500">
                    {user.email.clone()}
                    {user.superadmin.then_some(" · superadmin")}
                    {user.bound_org.is_some().then_some(" · locked to its client organization")}
                </div>
            </td>
            <td class="px-3 py-2">
                <span class=if active { "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700" } else { "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600" }>
                    {if active { "Active" } else { "Disabled" }}
                </span>
            </td>
            <td class="px-3 py-2 text-xs text-slate-600">
                {if user.memberships.is_empty() {
                    "—".to_string()
                } else {
                    user.memberships.iter().map(|m| format!("{} ({}, {})", m.org_name, if m.role == "member" { "user" } else { &m.role }, m.label())).collect::<Vec<_>>().join(", ")
                }}
            </td>
            <td class="whitespace-nowrap px-3 py-2 text-slate-600">
                {user.last_login_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "Never".to_string())}
            </td>
        </tr>
    }
}

#[component]
pub fn NewUserDialog() -> impl IntoView {
    let action = ServerAction::<CreateUser>::new();
    let error = submission_error(action);
    let page = Resource::new(|| (), |_| list_users(UserQuery::default()));
    view! {
        <Suspense fallback=|| ()>
            {move || page.get().map(|result| match result {
                Ok(page) if page.org_id.is_some() => {
                    let org_name = page.org_name.clone().unwrap_or_default();
                    view! {
                        <Modal title=format!("New user in {org_name}") close="/users">
                            <ActionForm action=action attr:class="mt-4 space-y-4" attr:novalidate=true>
                                {alert(error)}
                                <input type="hidden" name="org_id" value=page.org_id.clone().unwrap_or_default() />
                                <div>
                                    <label for="new-user-name" class="block text-sm font-medium">"Name"</label>
                                    <input id="new-user-name" name="name" class=INPUT aria-invalid=invalid(error, "name") />
                                    <FieldError error field="name" />
                                </div>
                                <div>
                                    <label for="new-user-email" class="block text-sm font-medium">"Email"</label>
                                    <input id="new-user-email" name="email" type="email" class=INPUT aria-invalid=invalid(error, "email") />
                                    <FieldError error field="email" />
                                </div>
                                <div class="grid grid-cols-2 gap-4">
                                    <div>
                                        <label for="new-user-password" class="block text-sm font-medium">"Initial password"</label>
                                        <input id="new-user-password" name="password" type="password" autocomplete="new-password" class=INPUT aria-invalid=invalid(error, "password") />
                                        <FieldError error field="password" />
                                    </div>
                                    <div>
                                        <label for="new-user-role" class="block text-sm font-medium">"Role"</label>
                                        <select id="new-user-role" name="role" class=INPUT aria-invalid=invalid(error, "role")>
                                            {page.roles.iter().map(|r| view! {
                                                <option value=r.clone() selected=r == "member">{role_label(r).to_string()}</option>
                                            }).collect_view()}
                                        </select>
                                        <FieldError error field="role" />
                                    </div>
                                </div>
                                <div class="flex justify-end gap-3 pt-2">
                                    <A href="/users" attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || action.pending().get()>"Create user"</button>
                                </div>
                            </ActionForm>
                        </Modal>
                    }.into_any()
                }
                Ok(_) => view! {
                    <Modal title="New user".to_string() close="/users">
                        <p class="mt-4 text-sm text-slate-600">"Choose an organization in the switcher first: new users join the organization you are acting in."</p>
                    </Modal>
                }.into_any(),
                Err(err) => view! { <Modal title="New user".to_string() close="/users"><p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p></Modal> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
pub fn EditUserDialog() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let search = use_location().search;
    let update = ServerAction::<UpdateUser>::new();
    let membership = ServerAction::<SetMembership>::new();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let user = Resource::new(
        move || {
            (
                id(),
                search.get(),
                update.version().get(),
                membership.version().get(),
            )
        },
        |(id, _, _, _)| get_user(id),
    );
    let notice = move || {
        query
            .with(|q| q.get("saved"))
            .map(|kind| {
                if kind == "created" {
                    "User created."
                } else {
                    "Saved."
                }
            })
            .or_else(|| matches!(update.value().get(), Some(Ok(()))).then_some("Saved."))
            .or_else(|| matches!(membership.value().get(), Some(Ok(()))).then_some("Saved."))
    };
    let update_error = submission_error(update);
    let membership_error = submission_error(membership);
    view! {
        <Suspense fallback=|| ()>
            {move || user.get().map(|result| match result {
                Ok(user) => view! {
                    <UserEditor user update membership update_error membership_error notice=notice() />
                }.into_any(),
                Err(err) => view! { <Modal title="User".to_string() close="/users"><p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p></Modal> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn UserEditor(
    user: UserRow,
    update: ServerAction<UpdateUser>,
    membership: ServerAction<SetMembership>,
    update_error: Signal<Option<AppError>>,
    membership_error: Signal<Option<AppError>>,
    notice: Option<&'static str>,
) -> impl IntoView {
    let bound_options = user
        .memberships
        .iter()
        .map(|m| {
            let selected = user.bound_org.as_deref() == Some(m.org_id.as_str());
            view! { <option value=m.org_id.clone() selected=selected>{format!("{} (locked)", m.org_name)}</option> }
        })
        .collect_view();
    // The Client Organization chosen in the user's form: "Save permissions" sends it too when
    // it was changed here, so choosing it and saving either form binds the user. (Without
    // JavaScript the permission forms leave the binding alone.)
    let loaded = user.bound_org.clone().unwrap_or_default();
    let bound = RwSignal::new(loaded.clone());
    let unchanged = Signal::derive(move || bound.with(|b| *b == loaded));
    let membership_forms = user
        .memberships
        .clone()
        .into_iter()
        .map(|m| {
            let user_id = user.id.clone();
            let checkboxes = Section::ALL
                .iter()
                .map(|section| {
                    let p = section.key();
                    let checked = m.pages.iter().any(|x| x == p);
                    let label = section.label();
                    view! {
                        <label class="flex items-center gap-2">
                            <input type="checkbox" name=format!("pages[{p}]") checked=checked class="rounded border-slate-300" />
                            {label}
                        </label>
                    }
                })
                .collect_view();
            view! {
                <ActionForm action=membership attr:class="mt-3 rounded-md border border-slate-200 p-4" attr:data-testid="membership-form">
                    <input type="hidden" name="org_id" value=m.org_id.clone() />
                    <input type="hidden" name="user_id" value=user_id />
                    <input type="hidden" name="own_pages" value="on" />
                    // Sent only when changed here: a binding changed elsewhere meanwhile is
                    // not undone by saving permissions from an older page.
                    <input type="hidden" name="bound_org_id"
                        value=move || bound.with(|b| if b.is_empty() { "none".to_string() } else { b.clone() })
                        disabled=unchanged />
                    <div class="flex flex-wrap items-center justify-between gap-3">
                        <div class="text-sm">
                            <span class="font-medium">{m.org_name.clone()}</span>
                            <span class="ml-2 font-mono text-xs text-slate-500">{m.label()}</span>
                            {(!m.org_active).then(|| view! { <span class="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600">"organization disabled"</span> })}
                        </div>
                        <A href=format!("/organizations/{}/confirm/{}", m.org_id, if m.org_active { "disable" } else { "enable" })
                            attr:class=format!("text-xs font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>
                            {if m.org_active { "Disable organization…" } else { "Enable organization…" }}
                        </A>
                    </div>
                    <div class="mt-3 flex items-center gap-2">
                        <label for=format!("role-{}", m.org_id) class="text-sm font-medium">"Role"</label>
                        <select id=format!("role-{}", m.org_id) name="role" prop:value=m.role.clone()
                            class="w-44 rounded-md border border-slate-300 px-2 py-1 text-sm">
                            {m.roles.iter().map(|role| view! {
                                <option value=role.clone() selected=*role == m.role>
                                    {role_label(role).to_string()}
                                </option>
                            }).collect_view()}
                        </select>
                    </div>
                    <fieldset class="mt-3">
                        <legend class="text-sm font-medium">"Sections this user may open"</legend>
                        <div class="mt-2 grid grid-cols-3 gap-2 text-sm">{checkboxes}</div>
                    </fieldset>
                    <div class="mt-3 flex justify-end">
                        <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Save permissions"</button>
                    </div>
                </ActionForm>
            }
        })
        .collect_view();
    view! {
        <Modal title=format!("{} · {}", user.name, user.email) close="/users">
            {notice.map(|text| view! { <Toast text /> })}
            <ActionForm action=update attr:class="mt-4 space-y-4" attr:novalidate=true>
                {alert(update_error)}
                <input type="hidden" name="user_id" value=user.id.clone() />
                <div class="grid grid-cols-2 gap-4">
                    <div>
                        <label for="user-name" class="block text-sm font-medium">"Name"</label>
                        <input id="user-name" name="name" value=user.name.clone() class=INPUT aria-invalid=invalid(update_error, "name") />
                        <FieldError error=update_error field="name" />
                    </div>
                    <div>
                        <label for="user-email" class="block text-sm font-medium">"Email"</label>
                        <input id="user-email" name="email" type="email" value=user.email.clone() class=INPUT aria-invalid=invalid(update_error, "email") />
                        <FieldError error=update_error field="email" />
                    </div>
                    <div>
                        <label for="user-status" class="block text-sm font-medium">"Status"</label>
                        <select id="user-status" name="status" class=INPUT aria-invalid=invalid(update_error, "status") prop:value=user.status.clone()>
                            <option value="active" selected=user.status == "active">"Active"</option>
                            <option value="disabled" selected=user.status == "disabled">"Disabled (signed out at once)"</option>
                        </select>
                        <FieldError error=update_error field="status" />
                    </div>
                    <div>
                        <label for="user-bound" class="block text-sm font-medium">"Client Organization"</label>
                        <select id="user-bound" name="bound_org_id" class=INPUT aria-describedby="bound-help" aria-invalid=invalid(update_error, "bound_org_id")
                            // Its value follows the data read: a form rebuilt after a save
                            // shows what was saved, not what the options' attributes last said.
                            prop:value=move || bound.get()
                            on:change=move |ev| bound.set(event_target_value(&ev))>
                            <option value="" selected=user.bound_org.is_none()>"None: may switch between its orgs"</option>
                            {bound_options}
                        </select>
                        <p id="bound-help" class="mt-1 text-xs text-slate-500">"Binding locks the user to that organization. Saved with the user, or with its permissions."</p>
                        <FieldError error=update_error field="bound_org_id" />
                    </div>
                </div>
                <div class="flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>"Save user"</button>
                </div>
            </ActionForm>
            <h3 class="mt-6 border-t border-slate-100 pt-4 text-sm font-semibold">"Permissions"</h3>
            {alert(membership_error)}
            <FieldError error=membership_error field="role" />
            <FieldError error=membership_error field="bound_org_id" />
            {membership_forms}
        </Modal>
    }
}

/// The Members tab of the org detail view (`/organizations/:id/members`).
#[component]
pub fn OrgMembersTab() -> impl IntoView {
    use crate::orgs::{detail_tab, placeholder, refetch_detail_after, tab_error};
    let remove = ServerAction::<super::RemoveMember>::new();
    refetch_detail_after(remove);
    let remove_error = submission_error(remove);
    detail_tab(
        |id, _| super::org_members(id),
        move |id, members| {
            let list = match members {
            Ok(rows) if rows.is_empty() => {
                placeholder("No members yet. Invite someone below.").into_any()
            }
            Ok(rows) => view! {
                <div class="mt-4">{alert(remove_error)}</div>
                <ul class="mt-2 divide-y divide-slate-100 rounded-md border border-slate-200 text-sm" data-testid="org-members">
                    {rows.into_iter().map(|u| {
                        let m = u.memberships.first().cloned();
                        let name = u.name.clone();
                        let org = id.clone();
                        let uid = u.id.clone();
                        let locked = u.bound_org.as_deref() == Some(id.as_str());
                        view! {
                            <li class="px-3 py-2" data-testid="org-member" data-email=u.email.clone()>
                                <div class="flex items-center justify-between">
                                    <span>
                                        <A href=format!("/users/{}", u.id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}")>{u.name.clone()}</A>
                                        <span class="ml-2 text-xs text-slate-500">{u.email.clone()}</span>
                                    </span>
                                    <span class="flex items-center gap-3 text-xs text-slate-600">
                                        {m.map(|m| format!("{} · {}", crate::orgs::role_label(&m.role), m.label()))}
                                        <details class="relative">
                                            <summary class=format!("cursor-pointer font-medium text-rose-700 {FOCUS_RING}")>"Remove…"</summary>
                                            <ActionForm action=remove attr:class="absolute right-0 z-10 mt-2 w-72 rounded-md border border-slate-200 bg-white p-3 text-left shadow-lg">
                                                <input type="hidden" name="org_id" value=org />
                                                <input type="hidden" name="user_id" value=uid />
                                                <p class="text-xs text-slate-700">
                                                    {if locked {
                                                        format!("{name} loses access to this organization with their next request. Their account is locked to it, so it is disabled too.")
                                                    } else {
                                                        format!("{name} loses access to this organization with their next request. Their account stays.")
                                                    }}
                                                </p>
                                                <button type="submit" class=format!("mt-2 {DANGER} {FOCUS_RING}")>{format!("Remove {name}")}</button>
                                            </ActionForm>
                                        </details>
                                    </span>
                                </div>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
            .into_any(),
            Err(err) => return tab_error(err).into_any(),
        };
            view! {
                {list}
                <crate::invitations::InvitationsPanel org_id=id />
            }
            .into_any()
        },
    )
}
