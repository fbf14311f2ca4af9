//! The org detail view's Credentials tab: the org's credentials (masked), a form to add or
//! replace one (for every agent of the org or one of them), and delete.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{CredentialTab, DeleteCredential, SaveCredential, KINDS};
use crate::{
    auth::submission_error,
    ui::{
        form_alert, invalid,
        style::{FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Toast,
    },
    AppError,
};

#[component]
pub fn CredentialsTab(org_id: String, tab: Result<CredentialTab, AppError>) -> impl IntoView {
    let save = ServerAction::<SaveCredential>::new();
    let delete = ServerAction::<DeleteCredential>::new();
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    let notice = use_query_map().with_untracked(|q| {
        q.get("saved").map(|kind| match kind.as_str() {
            "deleted" => "Credential deleted.",
            _ => "Credential saved.",
        })
    });
    let tab = match tab {
        Ok(tab) => tab,
        Err(err) => {
            return view! { <p role="alert" class="mt-4 text-sm text-red-700">{err.to_string()}</p> }
                .into_any()
        }
    };
    view! {
        <div data-testid="credentials-tab">
            {notice.map(|text| view! { <Toast text /> })}
            <p class="mt-4 text-sm text-slate-600">
                "Secrets for skills and integrations, encrypted at rest. After saving, only the last characters are ever shown; agents receive the whole secret through the agent API."
            </p>
            <div class="mt-3">{form_alert(delete_error)}</div>
            {if tab.rows.is_empty() {
                view! {
                    <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="credentials-empty">
                        "No credentials yet."
                    </p>
                }.into_any()
            } else {
                view! {
                    <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200" data-testid="credentials">
                        {tab.rows.into_iter().map(|c| {
                            let org_id = org_id.clone();
                            view! {
                                <li class="flex items-center justify-between gap-3 px-4 py-2 text-sm" data-testid="credential">
                                    <div>
                                        <span class="font-mono font-medium">{c.name.clone()}</span>
                                        <span class="ml-2 text-slate-500">{KINDS.iter().find(|(k, _)| *k == c.kind).map(|(_, l)| *l).unwrap_or("")}</span>
                                        <span class="ml-2 text-slate-500">{c.agent_name.clone().map(|a| format!("· for {a}")).unwrap_or_else(|| "· every agent".to_string())}</span>
                                    </div>
                                    <div class="flex items-center gap-3">
                                        <code class="font-mono text-slate-700" data-testid="credential-masked">{c.masked.clone()}</code>
                                        <ActionForm action=delete>
                                            <input type="hidden" name="org_id" value=org_id />
                                            <input type="hidden" name="credential_id" value=c.id.clone() />
                                            <button type="submit" aria-label=format!("Delete {}", c.name) class=format!("{SECONDARY} {FOCUS_RING}")>"Delete"</button>
                                        </ActionForm>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <ActionForm action=save attr:class="mt-6 rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                <h3 class="text-sm font-semibold">"Add or replace a credential"</h3>
                <div class="mt-2">{form_alert(error)}</div>
                <input type="hidden" name="org_id" value=org_id.clone() />
                <div class="mt-2 grid grid-cols-2 gap-4">
                    <div>
                        <label for="credential-name" class="block text-sm font-medium">"Name"</label>
                        <input id="credential-name" name="name" placeholder="stripe_api" autocomplete="off" class=INPUT aria-invalid=invalid(error, "name") />
                        <FieldError error field="name" />
                    </div>
                    <div>
                        <label for="credential-kind" class="block text-sm font-medium">"Kind"</label>
                        <select id="credential-kind" name="kind" class=INPUT aria-invalid=invalid(error, "kind")>
                            {KINDS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                        </select>
                        <FieldError error field="kind" />
                    </div>
                    <div>
                        <label for="credential-agent" class="block text-sm font-medium">"For"</label>
                        <select id="credential-agent" name="agent_id" class=INPUT aria-invalid=invalid(error, "agent_id")>
                            <option value="">"Every agent of the organization"</option>
                            {tab.agents.iter().map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> }).collect_view()}
                        </select>
                        <FieldError error field="agent_id" />
                    </div>
                    <div>
                        <label for="credential-secret" class="block text-sm font-medium">"Secret"</label>
                        <input id="credential-secret" name="secret" type="password" autocomplete="new-password" class=INPUT aria-invalid=invalid(error, "secret") />
                        <FieldError error field="secret" />
                    </div>
                </div>
                <div class="mt-4 flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save credential"</button>
                </div>
            </ActionForm>
        </div>
    }
    .into_any()
}
