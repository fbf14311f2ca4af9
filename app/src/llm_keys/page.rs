//! "Your LLM keys" (`/llm-keys`): every member keeps their own keys per provider for the org
//! they are acting in, sees them only by their last characters, and is told plainly when the
//! org's policy means agents will not use them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

use super::{own_llm_keys, provider_label, DeleteOwnLlmKey, OwnKeyList, SaveOwnLlmKey, PROVIDERS};
use crate::{
    auth::{submission_error, SessionInfo},
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY},
        FieldError, Toast,
    },
};

#[component]
pub fn OwnLlmKeysPage() -> impl IntoView {
    let in_org = use_context::<SessionInfo>().is_some_and(|s| s.active_org.is_some());
    if !in_org {
        return view! {
            <Title text="Your LLM keys" />
            <div class="mx-auto max-w-3xl">
                <h1 class="text-2xl font-semibold tracking-tight">"Your LLM keys"</h1>
                <p class="mt-4 text-sm text-slate-600">"Your keys are kept per organization: switch to one to see or add yours."</p>
            </div>
        }
        .into_any();
    }
    let save = ServerAction::<SaveOwnLlmKey>::new();
    let delete = ServerAction::<DeleteOwnLlmKey>::new();
    let search = use_location().search;
    // Refetched after every save or delete, also when the address it returns to is unchanged.
    let data = Resource::new(
        move || (search.get(), save.version().get(), delete.version().get()),
        |_| own_llm_keys(),
    );
    let query = use_query_map();
    let notice = move || {
        query.with(|q| {
            q.get("done").map(|done| match done.as_str() {
                "deleted" => "Key deleted.",
                _ => "Key saved.",
            })
        })
    };
    view! {
        <Title text="Your LLM keys" />
        <div class="mx-auto max-w-3xl" data-testid="own-llm-keys">
            {move || notice().map(|text| view! { <Toast text /> })}
            <h1 class="text-2xl font-semibold tracking-tight">"Your LLM keys"</h1>
            <Suspense fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
                {move || data.get().map(|result| match result {
                    Ok(own) => view! { <OwnKeys own save delete /> }.into_any(),
                    Err(err) => view! {
                        <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
                    }.into_any(),
                })}
            </Suspense>
        </div>
    }
    .into_any()
}

#[component]
fn OwnKeys(
    own: OwnKeyList,
    save: ServerAction<SaveOwnLlmKey>,
    delete: ServerAction<DeleteOwnLlmKey>,
) -> impl IntoView {
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    let OwnKeyList {
        org_id,
        org_name,
        allow_user_keys,
        keys,
    } = own;
    let save_org = org_id.clone();
    view! {
        <p class="mt-1 text-sm text-slate-600">
            {format!("Keys of your own that {org_name}'s agents use when they act for you, instead of the organization's. After saving, only the last four characters are shown.")}
        </p>
        {(!allow_user_keys).then(|| view! {
            <p class="mt-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="user-keys-off">
                {format!("{org_name} does not allow members' own keys at the moment: its agents use the organization's key, or the server's. Keys you keep here are used again once an admin allows them.")}
            </p>
        })}
        <div class="mt-4">{form_alert(delete_error)}</div>
        {if keys.is_empty() {
            view! {
                <p class="mt-4 rounded-lg border border-dashed border-slate-300 p-6 text-center text-sm text-slate-600" data-testid="own-keys-empty">
                    "You have no keys of your own here."
                </p>
            }.into_any()
        } else {
            view! {
                <ul class="mt-4 divide-y divide-slate-100 rounded-lg border border-slate-200">
                    // Keyed, so after a delete no other row inherits an opened confirmation.
                    <For each=move || keys.clone() key=|k| k.id.clone() children=move |k| {
                        let label = provider_label(&k.provider).to_string();
                        let org_id = org_id.clone();
                        view! {
                            <li class="px-4 py-3 text-sm" data-testid="own-key">
                                <div class="flex items-center justify-between gap-3">
                                    <span class="font-medium">{label.clone()}</span>
                                    <span class="flex items-center gap-4">
                                        <code class="font-mono text-slate-700">{k.masked.clone()}</code>
                                        <span class="text-xs text-slate-500">{format!("saved {}", k.updated_at.format("%Y-%m-%d"))}</span>
                                    </span>
                                </div>
                                <details class="mt-2">
                                    <summary class=format!("cursor-pointer text-xs font-medium text-rose-700 {FOCUS_RING}")>{format!("Delete your {label} key…")}</summary>
                                    <ActionForm action=delete attr:class="mt-2 flex items-center gap-3">
                                        <input type="hidden" name="org_id" value=org_id />
                                        <input type="hidden" name="llm_key_id" value=k.id.clone() />
                                        <span class="text-xs text-slate-600">"Agents acting for you then use the organization's key."</span>
                                        <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>{format!("Delete {label} key")}</button>
                                    </ActionForm>
                                </details>
                            </li>
                        }
                    } />
                </ul>
            }.into_any()
        }}
        <ActionForm action=save attr:class="mt-6 grid grid-cols-2 items-end gap-4 rounded-lg border border-slate-200 p-4" attr:novalidate=true>
            <h2 class="col-span-2 text-sm font-semibold">"Add or replace a key"</h2>
            <input type="hidden" name="org_id" value=save_org />
            <div>
                <label for="own-provider" class="block text-sm font-medium">"Provider"</label>
                <select id="own-provider" name="provider" class=INPUT aria-invalid=invalid(error, "provider")>
                    {PROVIDERS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </div>
            <div>
                <label for="own-key" class="block text-sm font-medium">"Key"</label>
                <input id="own-key" name="key" type="password" autocomplete="new-password" class=INPUT aria-invalid=invalid(error, "key") />
            </div>
            <div class="col-span-2">
                <FieldError error field="provider" />
                <FieldError error field="key" />
                {form_alert(error)}
            </div>
            <div class="col-span-2 flex justify-end">
                <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save key"</button>
            </div>
        </ActionForm>
    }
}
