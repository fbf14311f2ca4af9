//! The Edit dialog (`/organizations/:id/edit?tab=basic|address|subscription|roles`) and the
//! confirmations for enable, disable and delete (`/organizations/:id/confirm/:action`). Both
//! are addresses over the list, so they open, submit and close without JavaScript.

use leptos::prelude::*;
use leptos_router::{
    components::A,
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{
    detail::org_unavailable, get_org, AddRole, DeleteOrg, DisableOrg, EnableOrg, Organization,
    RemoveRole, UpdateOrg, MAX_CUSTOM_ROLES, PRODUCTS,
};
use crate::{
    auth::{submission_error, SessionInfo},
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, READONLY, SECONDARY},
        FieldError, Modal, TabNav, Toast,
    },
};

const TABS: [(&str, &str); 4] = [
    ("basic", "Basic Info"),
    ("address", "Address"),
    ("subscription", "Subscription"),
    ("roles", "Roles"),
];

fn saved_notice(show: bool) -> impl IntoView {
    show.then(|| view! { <Toast text="Saved." /> })
}

#[component]
pub fn EditOrgDialog() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let search = use_location().search;
    let update = ServerAction::<UpdateOrg>::new();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let org = Resource::new(
        move || (id(), search.get(), update.version().get()),
        |(id, _, _)| get_org(id),
    );
    let tab = move || {
        query
            .with(|q| q.get("tab"))
            .filter(|t| TABS.iter().any(|(k, _)| k == t))
            .unwrap_or_else(|| "basic".to_string())
    };
    let saved = move || query.with(|q| q.get("saved").is_some());
    view! {
        <Suspense fallback=|| ()>
            {move || org.get().map(|result| match result {
                Ok(org) => {
                    let title = format!("Edit ORG{} · {}", org.number, org.details.name);
                    let current = tab();
                    view! {
                        <Modal title close="/organizations">
                            <TabNav label="Sections of the organization" tabs=&TABS current=current.clone() base=format!("/organizations/{}/edit", org.id) />
                            {saved_notice(saved() || matches!(update.value().get(), Some(Ok(()))))}
                            {match current.as_str() {
                                "address" => view! { <AddressTab org=org.clone() update /> }.into_any(),
                                "subscription" => view! { <crate::billing::SubscriptionTab org=org.clone() /> }.into_any(),
                                "roles" => view! { <RolesTab org=org.clone() /> }.into_any(),
                                _ => view! { <BasicTab org=org.clone() update /> }.into_any(),
                            }}
                        </Modal>
                    }.into_any()
                }
                Err(err) => org_unavailable(&id(), err),
            })}
        </Suspense>
    }
}

#[component]
fn BasicTab(org: Organization, update: ServerAction<UpdateOrg>) -> impl IntoView {
    let error = submission_error(update);
    let active = org.status == "active";
    let superadmin = use_context::<SessionInfo>().is_some_and(|s| s.superadmin);
    view! {
        <ActionForm action=update attr:class="mt-4 space-y-4" attr:novalidate=true>
            {form_alert(error)}
            <input type="hidden" name="org_id" value=org.id.clone() />
            <input type="hidden" name="version" value=org.version.to_string() />
            <div>
                <label for="edit-name" class="block text-sm font-medium">"Title"</label>
                <input id="edit-name" name="details[name]" value=org.details.name.clone() required class=INPUT aria-invalid=invalid(error, "name") />
                <FieldError error field="name" />
            </div>
            <div class="grid grid-cols-2 gap-4">
                <div>
                    <label for="edit-domain" class="block text-sm font-medium">"Domain"</label>
                    <input id="edit-domain" name="details[domain]" value=org.details.domain.clone() class=INPUT aria-invalid=invalid(error, "domain") />
                    <FieldError error field="domain" />
                </div>
                <div>
                    <label for="edit-product" class="block text-sm font-medium">"Product"</label>
                    <select id="edit-product" name="details[product]" class=INPUT aria-invalid=invalid(error, "product")>
                        {PRODUCTS.iter().map(|(value, label)| view! {
                            <option value=*value selected=*value == org.details.product>{*label}</option>
                        }).collect_view()}
                    </select>
                    <FieldError error field="product" />
                </div>
            </div>
            <div>
                <label for="edit-description" class="block text-sm font-medium">
                    "Description " <span class="font-normal text-slate-500">"(optional)"</span>
                </label>
                <textarea id="edit-description" name="details[description]" rows="2" maxlength="2000" class=INPUT aria-invalid=invalid(error, "description")>{org.details.description.clone()}</textarea>
                <FieldError error field="description" />
            </div>
            <div class="grid grid-cols-2 gap-4">
                <div>
                    <label for="edit-contact-email" class="block text-sm font-medium">
                        "Contact email " <span class="font-normal text-slate-500">"(optional)"</span>
                    </label>
                    <input id="edit-contact-email" name="details[contact_email]" type="email" value=org.details.contact_email.clone() autocomplete="off" class=INPUT aria-invalid=invalid(error, "contact_email") />
                    <FieldError error field="contact_email" />
                </div>
                <div>
                    <label for="edit-contact-phone" class="block text-sm font-medium">
                        "Contact phone " <span class="font-normal text-slate-500">"(optional)"</span>
                    </label>
                    <input id="edit-contact-phone" name="details[contact_phone]" type="tel" value=org.details.contact_phone.clone() autocomplete="off" class=INPUT aria-invalid=invalid(error, "contact_phone") />
                    <FieldError error field="contact_phone" />
                </div>
            </div>
            <div>
                <label for="edit-slug" class="block text-sm font-medium">"Slug"</label>
                <input id="edit-slug" value=org.slug.clone() readonly class=READONLY aria-describedby="slug-help" />
                <p id="slug-help" class="mt-1 text-xs text-slate-500">"Permanent: it names the org's subdomain."</p>
            </div>
            <div class="flex items-center justify-between gap-3 border-t border-slate-100 pt-4">
                <div class="flex items-center gap-2 text-sm">
                    "Status:"
                    <span data-testid="org-status" class=if active { "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700" } else { "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600" }>
                        {if active { "Active" } else { "Disabled" }}
                    </span>
                    <A href=format!("/organizations/{}/confirm/{}", org.id, if active { "disable" } else { "enable" })
                        attr:class=format!("text-sm font-medium text-indigo-600 hover:text-indigo-500 {FOCUS_RING}")>
                        {if active { "Disable…" } else { "Enable…" }}
                    </A>
                    {superadmin.then(|| view! {
                        <A href=format!("/organizations/{}/confirm/delete", org.id)
                            attr:class=format!("text-sm font-medium text-rose-600 hover:text-rose-500 {FOCUS_RING}")>
                            "Delete…"
                        </A>
                    })}
                </div>
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || update.pending().get()>"Save"</button>
            </div>
        </ActionForm>
    }
}

#[component]
fn AddressTab(org: Organization, update: ServerAction<UpdateOrg>) -> impl IntoView {
    let error = submission_error(update);
    let d = org.details.clone();
    let field = move |name: &'static str,
                      label: &'static str,
                      value: String,
                      autocomplete: &'static str| {
        view! {
            <div>
                <label for=format!("edit-{name}") class="block text-sm font-medium">{label}</label>
                <input id=format!("edit-{name}") name=format!("details[{name}]") value=value autocomplete=autocomplete class=INPUT aria-invalid=invalid(error, name) />
                <FieldError error field=name />
            </div>
        }
    };
    view! {
        <ActionForm action=update attr:class="mt-4 space-y-4" attr:novalidate=true>
            {form_alert(error)}
            <input type="hidden" name="org_id" value=org.id.clone() />
            <input type="hidden" name="version" value=org.version.to_string() />
            {field("address_line1", "Address line 1", d.address_line1, "address-line1")}
            {field("address_line2", "Address line 2", d.address_line2, "address-line2")}
            <div class="grid grid-cols-2 gap-4">
                {field("city", "City", d.city, "address-level2")}
                {field("state", "State", d.state, "address-level1")}
                {field("country", "Country", d.country, "country-name")}
                {field("zip", "ZIP code", d.zip, "postal-code")}
            </div>
            <div class="flex justify-end border-t border-slate-100 pt-4">
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || update.pending().get()>"Save"</button>
            </div>
        </ActionForm>
    }
}

#[component]
fn RolesTab(org: Organization) -> impl IntoView {
    let add = ServerAction::<AddRole>::new();
    let remove = ServerAction::<RemoveRole>::new();
    let add_error = submission_error(add);
    let remove_error = submission_error(remove);
    let custom = org.roles.iter().filter(|r| !r.builtin).count();
    let org_id = org.id.clone();
    view! {
        <p class="mt-4 text-sm text-slate-600">
            {format!("{custom} of {MAX_CUSTOM_ROLES} custom roles. The admin and user roles are always present.")}
        </p>
        {form_alert(remove_error)}
        <ul class="mt-3 divide-y divide-slate-100 rounded-md border border-slate-200" data-testid="roles">
            {org.roles.clone().into_iter().map(|role| {
                let org_id = org_id.clone();
                view! {
                    <li class="flex items-center justify-between px-3 py-2 text-sm">
                        <span class="flex items-center gap-2">
                            <span class="font-medium" data-testid="role-name">{role.label().to_string()}</span>
                            {role.builtin.then(|| view! { <span class="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-500">"built in"</span> })}
                            <span class="text-xs text-slate-500">{format!("{} member(s)", role.members)}</span>
                        </span>
                        {if role.builtin {
                            view! { <span class="text-xs text-slate-400">{if role.required { "always present" } else { "" }}</span> }.into_any()
                        } else {
                            view! {
                                <ActionForm action=remove>
                                    <input type="hidden" name="org_id" value=org_id />
                                    <input type="hidden" name="role_name" value=role.name.clone() />
                                    <button type="submit" class=format!("text-sm font-medium text-rose-600 hover:text-rose-500 {FOCUS_RING}")
                                        aria-label=format!("Remove role {}", role.name)>
                                        "Remove"
                                    </button>
                                </ActionForm>
                            }.into_any()
                        }}
                    </li>
                }
            }).collect_view()}
        </ul>
        <ActionForm action=add attr:class="mt-4 flex items-start gap-2" attr:novalidate=true>
            <input type="hidden" name="org_id" value=org.id.clone() />
            <div class="flex-1">
                <label for="role-name" class="sr-only">"New role name"</label>
                <input id="role-name" name="role_name" placeholder="e.g. analyst" class=INPUT aria-invalid=invalid(add_error, "role_name") />
                <FieldError error=add_error field="role_name" />
            </div>
            <button type="submit" class=format!("mt-1 {PRIMARY} {FOCUS_RING}") disabled=move || add.pending().get()>"Add role"</button>
        </ActionForm>
    }
}

/// Confirms enable, disable or delete, saying what will happen before it does.
#[component]
pub fn ConfirmOrgAction() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let verb = move || params.with(|p| p.get("action").unwrap_or_default());
    let org = Resource::new(id, get_org);
    let disable = ServerAction::<DisableOrg>::new();
    let enable = ServerAction::<EnableOrg>::new();
    let delete = ServerAction::<DeleteOrg>::new();
    let errors = Signal::derive(move || {
        submission_error(disable)
            .get()
            .or_else(|| submission_error(enable).get())
            .or_else(|| submission_error(delete).get())
    });
    view! {
        <Suspense fallback=|| ()>
            {move || org.get().map(|result| match result {
                Ok(org) => {
                    let name = format!("ORG{} · {}", org.number, org.details.name);
                    // Enabling and deleting are the platform's; an org admin is told so instead
                    // of being offered a button that can only fail.
                    let superadmin = use_context::<SessionInfo>().is_some_and(|s| s.superadmin);
                    let (title, body, button): (String, String, &'static str) = match verb().as_str() {
                        "disable" => (
                            format!("Disable {name}?"),
                            format!(
                                "Warning: deactivating an organization prevents all its members from logging in and using the platform. All {} member(s) lose access at once, signed-in sessions included; ensure all stakeholders are informed before making this change. Nothing is deleted; enabling restores access.{}",
                                org.members,
                                if superadmin { "" } else { " You lose access too, and only a platform superadmin can enable it again." },
                            ),
                            "Disable organization",
                        ),
                        "enable" if !superadmin => (
                            format!("Enable {name}?"),
                            "Only a platform superadmin can enable an organization; ask yours.".to_string(),
                            "",
                        ),
                        "enable" => (
                            format!("Enable {name}?"),
                            "Its members can sign in and work in it again.".to_string(),
                            "Enable organization",
                        ),
                        "delete" if !superadmin => (
                            format!("Delete {name}?"),
                            "Only a platform superadmin can delete an organization; ask yours.".to_string(),
                            "",
                        ),
                        _ => (
                            format!("Delete {name}?"),
                            format!(
                                "This permanently deletes the organization, its roles, its subscription record, its audit log and its schema {}. It cannot be undone.{}",
                                org.schema,
                                if org.members > 0 || org.products > 0 {
                                    format!(" It is refused while anything is assigned: unassign its agents, and remove its {} member(s) and {} installed product(s) first.", org.members, org.products)
                                } else { " It is refused while any agent is still assigned to it; unassign them first.".to_string() },
                            ),
                            "Delete organization",
                        ),
                    };
                    let org_id = org.id.clone();
                    let form = match verb().as_str() {
                        _ if button.is_empty() => ().into_any(),
                        "disable" => view! {
                            <ActionForm action=disable>
                                <input type="hidden" name="org_id" value=org_id.clone() />
                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{button}</button>
                            </ActionForm>
                        }.into_any(),
                        "enable" => view! {
                            <ActionForm action=enable>
                                <input type="hidden" name="org_id" value=org_id.clone() />
                                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}")>{button}</button>
                            </ActionForm>
                        }.into_any(),
                        _ => view! {
                            <ActionForm action=delete>
                                <input type="hidden" name="org_id" value=org_id.clone() />
                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{button}</button>
                            </ActionForm>
                        }.into_any(),
                    };
                    view! {
                        <Modal title close="/organizations">
                            <p class="mt-3 text-sm text-slate-700" data-testid="confirm-body">{body}</p>
                            <div class="mt-3">{form_alert(errors)}</div>
                            <div class="mt-6 flex justify-end gap-3">
                                <A href=format!("/organizations/{}/edit", org.id) attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                                {form}
                            </div>
                        </Modal>
                    }.into_any()
                }
                Err(err) => org_unavailable(&id(), err),
            })}
        </Suspense>
    }
}
