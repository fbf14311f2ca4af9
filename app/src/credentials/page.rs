//! The org detail view's Credentials tab: the org's credentials (masked), a form to add or
//! replace one (for every agent of the org or one of them), and delete.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{CredentialTab, DeleteCredential, SaveCredential, KINDS};
use crate::{
    auth::submission_error,
    llm_keys::{provider_label, DeleteLlmKey, LlmKeys, SaveLlmKey, SetAllowUserKeys, PROVIDERS},
    orgs::refetch_detail_after,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Toast,
    },
    AppError,
};

/// The Credentials tab of the org detail view (`/organizations/:id/credentials`).
#[component]
pub fn CredentialsTab() -> impl IntoView {
    crate::orgs::detail_tab(
        |id, _| super::list_credentials(id),
        |org_id, tab| view! { <CredentialsTabView org_id tab /> },
    )
}

#[component]
fn CredentialsTabView(org_id: String, tab: Result<CredentialTab, AppError>) -> impl IntoView {
    let save = ServerAction::<SaveCredential>::new();
    let delete = ServerAction::<DeleteCredential>::new();
    refetch_detail_after(save);
    refetch_detail_after(delete);
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    let notice = use_query_map().with_untracked(|q| {
        q.get("saved").map(|kind| match kind.as_str() {
            "deleted" => "Credential deleted.",
            "llm" => "LLM key saved.",
            "llm-deleted" => "LLM key deleted.",
            "llm-policy" => "Policy saved.",
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
    let llm_org = org_id.clone();
    let (rows, rows_org) = (tab.rows.clone(), org_id.clone());
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
                        // Keyed, so after a delete no other row inherits an opened confirmation.
                        <For each=move || rows.clone() key=|c| c.id.clone() children=move |c| {
                            let org_id = rows_org.clone();
                            view! {
                                <li class="flex items-center justify-between gap-3 px-4 py-2 text-sm" data-testid="credential">
                                    <div>
                                        <span class="font-mono font-medium">{c.name.clone()}</span>
                                        <span class="ml-2 text-slate-500">{KINDS.iter().find(|(k, _)| *k == c.kind).map(|(_, l)| *l).unwrap_or("")}</span>
                                        <span class="ml-2 text-slate-500">{c.agent_name.clone().map(|a| format!("· for {a}")).unwrap_or_else(|| "· every agent".to_string())}</span>
                                    </div>
                                    <div class="flex items-center gap-3">
                                        <code class="font-mono text-slate-700" data-testid="credential-masked">{c.masked.clone()}</code>
                                        <details>
                                            <summary aria-label=format!("Delete {}…", c.name) class=format!("cursor-pointer text-xs font-medium text-rose-700 {FOCUS_RING}")>"Delete…"</summary>
                                            <ActionForm action=delete attr:class="mt-1">
                                                <input type="hidden" name="org_id" value=org_id />
                                                <input type="hidden" name="credential_id" value=c.id.clone() />
                                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete {}", c.name)}</button>
                                            </ActionForm>
                                        </details>
                                    </div>
                                </li>
                            }
                        } />
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
            <LlmKeysSection org_id=llm_org llm=tab.llm.clone() />
        </div>
    }
    .into_any()
}

/// LLM keys: the org's and its members' (masked), the "allow user keys" policy, and a form to
/// save a key for the org or for oneself.
#[component]
fn LlmKeysSection(org_id: String, llm: LlmKeys) -> impl IntoView {
    let save = ServerAction::<SaveLlmKey>::new();
    let delete = ServerAction::<DeleteLlmKey>::new();
    let policy = ServerAction::<SetAllowUserKeys>::new();
    refetch_detail_after(save);
    refetch_detail_after(delete);
    refetch_detail_after(policy);
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    let (policy_org, save_org) = (org_id.clone(), org_id.clone());
    let (keys, keys_org) = (llm.keys.clone(), org_id.clone());
    view! {
        <section class="mt-8" aria-labelledby="llm-keys-heading" data-testid="llm-keys">
            <h3 id="llm-keys-heading" class="text-sm font-semibold">"LLM API keys"</h3>
            <p class="mt-1 text-sm text-slate-600">
                "Agents use a member's own key when the organization allows it, else the organization's, else the server's."
            </p>
            <ActionForm action=policy attr:class="mt-3 flex items-center gap-3 text-sm">
                <input type="hidden" name="org_id" value=policy_org />
                <label class="flex items-center gap-2">
                    <input type="checkbox" name="allow" checked=llm.allow_user_keys class=FOCUS_RING />
                    "Allow members' own keys"
                </label>
                <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Save policy"</button>
            </ActionForm>
            <div class="mt-3">{form_alert(delete_error)}</div>
            {if llm.keys.is_empty() {
                view! { <p class="mt-3 rounded-lg border border-dashed border-slate-300 p-4 text-center text-sm text-slate-600" data-testid="llm-keys-empty">"No LLM keys yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 rounded-lg border border-slate-200">
                        <For each=move || keys.clone() key=|k| k.id.clone() children=move |k| {
                            let org_id = keys_org.clone();
                            let owner = k.user.clone().unwrap_or_else(|| "Organization".to_string());
                            view! {
                                <li class="flex items-center justify-between gap-3 px-4 py-2 text-sm" data-testid="llm-key">
                                    <span><span class="font-medium">{provider_label(&k.provider).to_string()}</span><span class="ml-2 text-slate-500">{format!("· {owner}")}</span></span>
                                    <span class="flex items-center gap-3">
                                        <code class="font-mono text-slate-700">{k.masked.clone()}</code>
                                        <details>
                                            <summary aria-label=format!("Delete the {} key of {owner}…", provider_label(&k.provider)) class=format!("cursor-pointer text-xs font-medium text-rose-700 {FOCUS_RING}")>"Delete…"</summary>
                                            <ActionForm action=delete attr:class="mt-1">
                                                <input type="hidden" name="org_id" value=org_id />
                                                <input type="hidden" name="llm_key_id" value=k.id.clone() />
                                                <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete the {} key of {owner}", provider_label(&k.provider))}</button>
                                            </ActionForm>
                                        </details>
                                    </span>
                                </li>
                            }
                        } />
                    </ul>
                }.into_any()
            }}
            <ActionForm action=save attr:class="mt-4 grid grid-cols-3 items-end gap-3 rounded-lg border border-slate-200 p-4" attr:novalidate=true>
                <input type="hidden" name="org_id" value=save_org />
                <div>
                    <label for="llm-provider" class="block text-sm font-medium">"Provider"</label>
                    <select id="llm-provider" name="provider" class=INPUT>
                        {PROVIDERS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                </div>
                <p class="text-xs text-slate-600">"The organization's key. Members keep their own on "<a class="underline" href="/llm-keys">"Your LLM keys"</a>"."</p>
                <div>
                    <label for="llm-key" class="block text-sm font-medium">"Key"</label>
                    <input id="llm-key" name="key" type="password" autocomplete="new-password" class=INPUT aria-invalid=invalid(error, "key") />
                </div>
                <div class="col-span-3">
                    <FieldError error field="key" />
                    <FieldError error field="provider" />
                    {form_alert(error)}
                </div>
                <div class="col-span-3 flex justify-end">
                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save LLM key"</button>
                </div>
            </ActionForm>
        </section>
    }
}
