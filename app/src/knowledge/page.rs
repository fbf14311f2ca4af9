//! The Knowledge page (`/knowledge`, in the org the header names): search, the entries (shared
//! ones from the platform owner marked and read-only), and the editor (`/knowledge/new`,
//! `/knowledge/:id`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Form, Outlet, A},
    hooks::{use_location, use_params_map, use_query_map},
};

use super::{get_entry, list_entries, DeleteEntry, Entry, SaveEntry, VISIBILITIES};
use crate::{
    auth::submission_error,
    ui::{
        form_alert, invalid,
        style::{DANGER, FOCUS_RING, INPUT, PRIMARY, SECONDARY},
        FieldError, Modal, Toast,
    },
};

#[component]
pub fn KnowledgePage() -> impl IntoView {
    let query = use_query_map();
    let search = use_location().search;
    let page = Resource::new(
        move || search.get(),
        move |_| {
            let (q, page) = query.with_untracked(|q| {
                (
                    q.get("q").unwrap_or_default(),
                    q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
                )
            });
            list_entries(q, page)
        },
    );
    let notice = move || {
        query.with(|q| {
            q.get("saved").map(|kind| match kind.as_str() {
                "deleted" => "Entry deleted.",
                _ => "Entry saved.",
            })
        })
    };
    view! {
        <Title text="Knowledge" />
        <div class="mx-auto max-w-7xl">
            {move || notice().map(|text| view! { <Toast text /> })}
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold tracking-tight">"Knowledge"</h1>
                    <p class="mt-1 text-sm text-slate-600">
                        "What this organization's agents know. Agents search it, with the platform's shared knowledge; never another organization's."
                    </p>
                </div>
                <A href="/knowledge/new" attr:class=format!("{PRIMARY} {FOCUS_RING}")>"New Entry"</A>
            </div>
            <Form method="GET" action="/knowledge" attr:role="search" attr:class="mt-6 flex gap-2">
                <label for="knowledge-search" class="sr-only">"Search knowledge"</label>
                <input id="knowledge-search" type="search" name="q" placeholder="Search titles, tags and text"
                    value=move || query.with(|q| q.get("q").unwrap_or_default())
                    class="w-96 rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm" />
                <button type="submit" class=format!("{SECONDARY} {FOCUS_RING}")>"Search"</button>
            </Form>
            <Transition fallback=|| view! { <p class="mt-6 text-sm text-slate-500">"Loading knowledge…"</p> }>
                {move || page.get().map(|result| match result {
                    Ok(page) => view! { <EntryList rows=page.rows searched=!page.q.is_empty() matching=page.matching /> }.into_any(),
                    Err(err) => view! { <p role="alert" class="mt-6 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </div>
        <Outlet />
    }
}

#[component]
fn EntryList(rows: Vec<Entry>, searched: bool, matching: i64) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 p-8 text-center text-sm text-slate-600" data-testid="knowledge-empty">
                {if searched { "Nothing matches this search." } else { "No knowledge yet. Add the first entry with New Entry." }}
            </div>
        }
        .into_any();
    }
    view! {
        <p class="mt-6 text-sm text-slate-600" data-testid="knowledge-count">{format!("{matching} entr{}", if matching == 1 { "y" } else { "ies" })}</p>
        <ul class="mt-2 divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white" data-testid="knowledge">
            {rows.into_iter().map(|e| view! {
                <li class="px-4 py-3" data-testid="entry">
                    <div class="flex items-center justify-between gap-3">
                        <A href=format!("/knowledge/{}", e.id) attr:class=format!("font-medium hover:text-indigo-600 {FOCUS_RING}") attr:data-testid="entry-title">
                            {e.title.clone()}
                        </A>
                        <div class="flex gap-2 text-xs">
                            {e.read_only.then(|| view! { <span class="rounded-full bg-indigo-50 px-2 py-0.5 font-medium text-indigo-700">"Shared by the platform"</span> })}
                            {(e.shared && !e.read_only).then(|| view! { <span class="rounded-full bg-indigo-50 px-2 py-0.5 font-medium text-indigo-700">"Shared with every org"</span> })}
                            <span class="rounded-full bg-slate-100 px-2 py-0.5 text-slate-600">{e.visibility.clone()}</span>
                        </div>
                    </div>
                    <p class="mt-1 text-sm text-slate-600" data-testid="entry-snippet">
                        {e.snippet.clone().unwrap_or_else(|| e.body.chars().take(200).collect())}
                    </p>
                    {(!e.tags.is_empty()).then(|| view! {
                        <p class="mt-1 text-xs text-slate-500">{e.tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" ")}</p>
                    })}
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// The editor: `/knowledge/new`, or `/knowledge/:id`. A shared entry from the platform owner is
/// shown read-only.
#[component]
pub fn EntryEditor() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let entry = Resource::new(id, |id| async move {
        if id == "new" {
            Ok(None)
        } else {
            get_entry(id).await.map(Some)
        }
    });
    let save = ServerAction::<SaveEntry>::new();
    let delete = ServerAction::<DeleteEntry>::new();
    let error = submission_error(save);
    let delete_error = submission_error(delete);
    view! {
        <Suspense fallback=|| ()>
            {move || entry.get().map(|result| match result {
                Err(err) => view! {
                    <Modal title="Entry".to_string() close="/knowledge">
                        <p role="alert" class="mt-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{err.to_string()}</p>
                    </Modal>
                }.into_any(),
                Ok(Some(e)) if e.read_only => view! {
                    <Modal title=e.title.clone() close="/knowledge">
                        <p class="mt-2 rounded-md bg-indigo-50 px-3 py-2 text-sm text-indigo-800">"Shared by the platform: readable here, edited only in the platform owner's organization."</p>
                        <div class="mt-4 whitespace-pre-wrap text-sm text-slate-800">{e.body.clone()}</div>
                    </Modal>
                }.into_any(),
                Ok(existing) => {
                    let e = existing.clone();
                    let title = e.as_ref().map(|e| format!("Edit · {}", e.title)).unwrap_or_else(|| "New Entry".to_string());
                    let field = |f: fn(&Entry) -> String| e.as_ref().map(f).unwrap_or_default();
                    let visibility = e.as_ref().map(|e| e.visibility.clone()).unwrap_or_else(|| "organization".to_string());
                    let entry_id = field(|e| e.id.clone());
                    let (entry_title, body, tags, source) = (
                        field(|e| e.title.clone()),
                        field(|e| e.body.clone()),
                        field(|e| e.tags.join(", ")),
                        field(|e| e.source.clone()),
                    );
                    let shared = e.as_ref().is_some_and(|e| e.shared);
                    let exists = e.is_some();
                    let delete_id = entry_id.clone();
                    view! {
                        <Modal title close="/knowledge">
                            <ActionForm action=save attr:class="mt-4 space-y-4" attr:novalidate=true>
                                {form_alert(error)}
                                <input type="hidden" name="entry_id" value=entry_id.clone() />
                                <div>
                                    <label for="entry-title" class="block text-sm font-medium">"Title"</label>
                                    <input id="entry-title" name="title" value=entry_title class=INPUT aria-invalid=invalid(error, "title") />
                                    <FieldError error field="title" />
                                </div>
                                <div>
                                    <label for="entry-body" class="block text-sm font-medium">"Text"</label>
                                    <textarea id="entry-body" name="body" rows="8" class=INPUT aria-invalid=invalid(error, "body")>{body}</textarea>
                                    <FieldError error field="body" />
                                </div>
                                <div class="grid grid-cols-2 gap-4">
                                    <div>
                                        <label for="entry-tags" class="block text-sm font-medium">"Tags"</label>
                                        <input id="entry-tags" name="tags" value=tags placeholder="billing, onboarding" class=INPUT aria-invalid=invalid(error, "tags") />
                                        <FieldError error field="tags" />
                                    </div>
                                    <div>
                                        <label for="entry-source" class="block text-sm font-medium">"Source"</label>
                                        <input id="entry-source" name="source" value=source placeholder="https://… or a document name" class=INPUT aria-invalid=invalid(error, "source") />
                                        <FieldError error field="source" />
                                    </div>
                                </div>
                                <div class="grid grid-cols-2 gap-4">
                                    <div>
                                        <label for="entry-visibility" class="block text-sm font-medium">"Visibility"</label>
                                        <select id="entry-visibility" name="visibility" class=INPUT aria-invalid=invalid(error, "visibility")>
                                            {VISIBILITIES.iter().map(|(value, label)| view! {
                                                <option value=*value selected=*value == visibility>{*label}</option>
                                            }).collect_view()}
                                        </select>
                                        <FieldError error field="visibility" />
                                    </div>
                                    <div class="mt-6">
                                        <label class="flex items-center gap-2 text-sm font-medium">
                                            <input type="checkbox" name="shared" checked=shared class="rounded border-slate-300" />
                                            "Share with every organization"
                                        </label>
                                        <FieldError error field="shared" />
                                    </div>
                                </div>
                                <div class="flex justify-end gap-3 border-t border-slate-100 pt-4">
                                    <A href="/knowledge" attr:class=format!("{SECONDARY} {FOCUS_RING}")>"Cancel"</A>
                                    <button type="submit" class=format!("{PRIMARY} {FOCUS_RING}") disabled=move || save.pending().get()>"Save entry"</button>
                                </div>
                            </ActionForm>
                            {exists.then(|| view! {
                                <details class="mt-4 rounded-md border border-rose-200 p-3 text-sm">
                                    <summary class=format!("cursor-pointer font-medium text-rose-700 {FOCUS_RING}")>"Delete this entry…"</summary>
                                    <p class="mt-2 text-slate-700">"Agents stop finding it at once. This cannot be undone."</p>
                                    <div class="mt-2">{form_alert(delete_error)}</div>
                                    <ActionForm action=delete attr:class="mt-2">
                                        <input type="hidden" name="entry_id" value=delete_id.clone() />
                                        <button type="submit" class=format!("{DANGER} {FOCUS_RING}")>"Delete entry"</button>
                                    </ActionForm>
                                </details>
                            })}
                        </Modal>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}
